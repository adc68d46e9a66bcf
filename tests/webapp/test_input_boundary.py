"""Bad input gets a clear message at its field, never a 500, and never poisons what is stored."""

from __future__ import annotations

import gzip
import io
import tarfile
import time

import pytest
from sqlalchemy import select
from sqlalchemy import text as sql

from sandbox.charts import build_chart_archive
from tests.helpers import run_queued_jobs
from tests.webapp.catalog_fixtures import make_catalog
from tests.webapp.samples import DEPLOYMENT_YAML, KUBECONFIG
from webapp.extensions import db
from webapp.models import (
    Cluster,
    Environment,
    EnvironmentService,
    JobRun,
    JobStatus,
    Project,
    ProjectKind,
    Registry,
    Service,
    StageKind,
    User,
    Version,
    VersionDraft,
    Workflow,
    WorkflowStage,
)


@pytest.fixture
def admin(client, auth):
    auth.login("admin")
    return client


@pytest.fixture
def cat(app):
    return make_catalog(app)


def text(response) -> str:
    return response.get_data(as_text=True)


def rows(app, model) -> list[tuple]:
    """Every row of ``model`` as plain values, to compare before and after a refused post."""
    with app.app_context():
        table = model.__table__
        return [tuple(row) for row in db.session.execute(select(table).order_by(table.c.id))]


# --- ids and page numbers -------------------------------------------------------------------


@pytest.mark.parametrize("number", [10**20, 2**63, 2**31, 0])
def test_huge_or_zero_ids_are_not_found(admin, cat, number):
    for url in (
        f"/catalog/registries/{number}",
        f"/catalog/services/{number}/edit",
        f"/versions/projects/{cat.project_id}/new/{number}",
        f"/workflows/{number}",
    ):
        response = admin.get(url)
        assert response.status_code == 404, url
        assert "Slipway" in text(response)


@pytest.mark.parametrize("page", ["100000000000000000000", str(2**63), "-1", "x", "0"])
def test_unusable_page_numbers_are_not_found(admin, cat, page):
    response = admin.get(f"/versions/projects/{cat.project_id}/?page={page}")
    assert response.status_code == 404
    assert "No such page." in text(response)


def test_a_page_past_the_end_is_an_empty_page(admin, cat):
    assert admin.get(f"/versions/projects/{cat.project_id}/?page=999999").status_code == 200


def test_control_characters_in_the_address_are_refused(admin, cat):
    response = admin.get(f"/versions/projects/{cat.project_id}/?q=a%00b")
    assert response.status_code == 400
    assert "control characters" in text(response)


# --- text fields ----------------------------------------------------------------------------


def test_a_file_where_text_is_expected_is_refused_at_the_field(app, admin):
    response = admin.post(
        "/catalog/registries/new",
        data={"name": (io.BytesIO(b"x"), "x.txt"), "address": "r.example.com"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Send text here, not a file." in text(response)
    assert rows(app, Registry) == []


@pytest.mark.parametrize("bad", ["a\x00b", "bell\x07", "esc\x1b[31m"])
def test_nul_and_control_characters_are_refused(app, admin, cat, bad):
    before = rows(app, Project)
    response = admin.post(
        f"/catalog/projects/{cat.project_id}/edit",
        data={"key": "shop", "name": "Shop", "kind": "k8s_yaml", "description": bad},
    )
    assert response.status_code == 422
    assert "Remove the control characters" in text(response)
    assert rows(app, Project) == before


@pytest.mark.parametrize(
    "url,data",
    [
        ("/catalog/registries/new", {"name": "cart\n", "address": "r.example.com"}),
        ("/catalog/projects/new", {"key": "cart\n", "name": "Cart", "kind": "k8s_yaml"}),
    ],
)
def test_names_with_a_trailing_newline_are_refused(app, admin, url, data):
    response = admin.post(url, data=data)
    assert response.status_code == 422
    assert rows(app, Registry) == [] and rows(app, Project) == []


def test_a_trailing_newline_does_not_make_a_second_service(app, admin, cat):
    response = admin.post(
        f"/catalog/projects/{cat.project_id}/services/new",
        data={"name": "cart\n", "order_group": "1", "yaml_template": DEPLOYMENT_YAML},
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalars(select(Service.name)).all() == ["cart"]


def test_the_demo_workflow_name_can_be_saved_from_its_edit_form(app, admin, cat):
    with app.app_context():
        workflow = Workflow(
            project_id=cat.project_id, name="Release to prod", environment_id=cat.environment_id
        )
        db.session.add(workflow)
        db.session.commit()
        workflow_id = workflow.id
    response = admin.post(
        f"/workflows/{workflow_id}/edit",
        data={"name": "Release to prod", "environment_id": cat.environment_id},
    )
    assert response.status_code == 302
    refused = admin.post(
        f"/workflows/{workflow_id}/edit",
        data={"name": "Release to prod ", "environment_id": cat.environment_id},
    )
    assert refused.status_code == 422


def test_a_huge_test_command_is_refused_quickly(app, admin, cat):
    with app.app_context():
        workflow = Workflow(project_id=cat.project_id, name="w", environment_id=cat.environment_id)
        db.session.add(workflow)
        db.session.commit()
        workflow_id = workflow.id
    started = time.monotonic()
    response = admin.post(
        f"/workflows/{workflow_id}/stages/new/test",
        data={
            "name": "Smoke",
            "mode": "job",
            "image": "busybox",
            "command": "'" + "a " * 500_000,
            "checks": "",
            "timeout_seconds": "60",
        },
    )
    assert time.monotonic() - started < 3
    assert response.status_code == 422
    assert "Field cannot be longer than 2000 characters." in text(response)
    assert rows(app, WorkflowStage) == []


# --- YAML fields ----------------------------------------------------------------------------

DEEP = "a: " + "[" * 3000 + "]" * 3000 + "\n"
DEEPER_THAN_ALLOWED = "a: " + "[" * 150 + "]" * 150 + "\n"
LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"b{i}: &b{i} [" + ",".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 10) + "]\n"
    for i in range(8)
)


@pytest.mark.parametrize(
    "template,message",
    [
        (DEPLOYMENT_YAML + "extra: " + "9" * 5000 + "\n", "a number is too long"),
        (DEEP, "nesting depth"),
        (DEEPER_THAN_ALLOWED, "nested more than 100 levels deep"),
        (LAUGHS, "too many aliases"),
        ("a: &a [*a]\n", "refers to itself"),
        ("apiVersion: v1\nkind: [Pod]\n", "apiVersion and kind are texts"),
        ("apiVersion: v1\nkind: Pod\nspec: [1]\n", "Pod spec must be a mapping"),
        ("apiVersion: v1\nkind: Pod\nmetadata: x\nspec: {}\n", "Pod metadata must be a mapping"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: [x]}\n"
            "spec: {containers: [{name: a, image: b}]}\n",
            "metadata.name must be a non-empty text",
        ),
    ],
)
def test_service_templates_of_the_wrong_shape_are_refused(app, admin, cat, template, message):
    before = rows(app, Service)
    response = admin.post(
        f"/catalog/services/{cat.service_id}/edit",
        data={"name": "cart", "order_group": "1", "yaml_template": template},
    )
    assert response.status_code == 422
    assert message in text(response)
    assert rows(app, Service) == before


def test_dates_in_a_template_stay_text(app, admin, cat):
    template = DEPLOYMENT_YAML.replace(
        "metadata:\n", "metadata:\n  annotations: {d: 2024-13-45}\n", 1
    )
    assert "2024-13-45" in template
    response = admin.post(
        f"/catalog/services/{cat.service_id}/edit",
        data={"name": "cart", "order_group": "1", "yaml_template": template},
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    "kubeconfig,message",
    [
        ("clusters: 5\n", "clusters must be a list"),
        (KUBECONFIG + "  - cluster: {server: 'https://x'}\n", "has no name"),
        ("clusters: [1]\ncontexts: []\n", "clusters entry 1 must be a mapping"),
        ("a: &a [*a]\n", "refers to itself"),
    ],
)
def test_kubeconfigs_of_the_wrong_shape_are_refused(app, admin, kubeconfig, message):
    response = admin.post(
        "/catalog/clusters/new", data={"name": "bad", "kubeconfig_text": kubeconfig}
    )
    assert response.status_code == 422
    assert message in text(response)
    assert rows(app, Cluster) == []


def test_a_stored_kubeconfig_of_the_wrong_shape_still_shows_its_cluster(app, admin, cat):
    with app.app_context():
        cluster = db.session.get(Cluster, cat.cluster_id)
        cluster.kubeconfig = KUBECONFIG + "  - cluster: {server: 'https://x'}\n"
        db.session.commit()
    response = admin.get(f"/catalog/clusters/{cat.cluster_id}")
    assert response.status_code == 200
    assert "prod-cluster" in text(response)


def _deployed_url(cat) -> str:
    return f"/catalog/environments/{cat.environment_id}/services/{cat.service_id}"


def _helm_deployed_url(app, cat) -> str:
    with app.app_context():
        project = Project(key="charts", name="Charts", kind=ProjectKind.HELM)
        service = Service(project=project, name="api", order_group=1)
        env = Environment(project=project, name="dev", namespace="charts-dev")
        db.session.add_all([project, service, env])
        db.session.commit()
        return f"/catalog/environments/{env.id}/services/{service.id}"


def test_deployed_state_fields_of_the_other_project_kind_are_not_stored(app, admin, cat):
    response = admin.post(
        _deployed_url(cat),
        data={"rendered_yaml": DEPLOYMENT_YAML, "values_yaml": "a: 1\n", "chart_version": "1"},
    )
    assert response.status_code == 302
    with app.app_context():
        state = db.session.scalar(select(EnvironmentService))
        assert (state.values_yaml, state.chart_version) == (None, None)


def test_deployed_state_with_an_empty_images_box_is_saved(app, admin, cat):
    response = admin.post(_deployed_url(cat), data={"rendered_yaml": DEPLOYMENT_YAML, "images": ""})
    assert response.status_code == 302
    with app.app_context():
        state = db.session.scalar(select(EnvironmentService))
        assert state.rendered_yaml == DEPLOYMENT_YAML
        assert state.images == []


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("values_yaml", DEEP, "nesting depth"),
        ("values_yaml", DEEPER_THAN_ALLOWED, "nested more than 100 levels deep"),
        ("values_yaml", LAUGHS, "too many aliases"),
        ("values_yaml", "a: " + "1" * 5000, "a number is too long"),
        ("rendered_yaml", "apiVersion: v1\nkind: Pod\nspec: [1]\n", "Pod spec must be a mapping"),
    ],
)
def test_deployed_state_yaml_is_checked(app, admin, cat, field, value, message):
    url = _deployed_url(cat)
    if field == "values_yaml":
        url = _helm_deployed_url(app, cat)
    before = rows(app, EnvironmentService)
    response = admin.post(url, data={field: value, "images": ""})
    assert response.status_code == 422
    assert message in text(response)
    assert rows(app, EnvironmentService) == before


# --- stored state ---------------------------------------------------------------------------


def _approval_workflow(app, cat, settings: dict | None = None) -> tuple[int, int]:
    with app.app_context():
        workflow = Workflow(project_id=cat.project_id, name="w", environment_id=cat.environment_id)
        stage = WorkflowStage(
            kind=StageKind.APPROVAL,
            name="Approve",
            settings=settings or {"approver_roles": ["admin"], "approvals_needed": 1},
        )
        workflow.stages = [stage]
        workflow.renumber()
        db.session.add(workflow)
        db.session.commit()
        return workflow.id, stage.id


@pytest.mark.parametrize("roles", [[""], ["nobody"]])
def test_an_approval_stage_with_an_unknown_role_is_refused(app, admin, cat, roles):
    workflow_id, stage_id = _approval_workflow(app, cat)
    before = rows(app, WorkflowStage)
    response = admin.post(
        f"/workflows/{workflow_id}/stages/{stage_id}/edit",
        data={
            "name": "Approve",
            "approver_roles": roles,
            "approvals_needed": "1",
            "timeout_minutes": "60",
        },
    )
    assert response.status_code == 422
    assert "is not a valid choice for this field." in text(response)
    assert rows(app, WorkflowStage) == before


def test_a_stored_stage_with_an_unknown_role_does_not_break_its_workflow_page(app, admin, cat):
    workflow_id, _ = _approval_workflow(app, cat, {"approver_roles": [""], "approvals_needed": 1})
    response = admin.get(f"/workflows/{workflow_id}")
    assert response.status_code == 200
    assert "unknown role" in text(response)


def test_an_edit_post_missing_a_field_keeps_the_stored_setting(app, admin, cat):
    workflow_id, _ = _approval_workflow(app, cat)
    with app.app_context():
        workflow = db.session.get(Workflow, workflow_id)
        stage = WorkflowStage(
            kind=StageKind.TEST,
            name="Smoke",
            settings={"mode": "job", "image": "busybox", "command": "true", "timeout_seconds": 60},
        )
        workflow.stages.append(stage)
        workflow.renumber()
        db.session.commit()
        stage_id = stage.id
    response = admin.post(
        f"/workflows/{workflow_id}/stages/{stage_id}/edit",
        data={"name": "Smoke", "mode": "job", "image": "busybox:2"},
    )
    assert response.status_code == 302
    with app.app_context():
        settings = db.session.get(WorkflowStage, stage_id).settings
    assert settings["image"] == "busybox:2"
    assert settings["command"] == "true"
    assert settings["timeout_seconds"] == 60


@pytest.mark.parametrize(
    "data",
    [
        {"environment_id": "x"},
        {"service_ids": "abc"},
        {"images": [1]},
        {"values": {"1": ["not", "text"]}},
        {"reached": "many"},
    ],
)
def test_a_stored_draft_of_the_wrong_shape_is_shown_with_discard(app, client, auth, cat, data):
    auth.login("tester")
    with app.app_context():
        tester = db.session.scalar(select(User).where(User.username == "tester"))
        db.session.add(
            VersionDraft(user_id=tester.id, project_id=cat.project_id, step=2, data=data)
        )
        db.session.commit()
    new = client.get(f"/versions/projects/{cat.project_id}/new", follow_redirects=True)
    assert new.status_code == 422
    assert "cannot be used" in text(new)
    assert "Discard this draft" in text(new)
    posted = client.post(f"/versions/projects/{cat.project_id}/new/1", data={"name": "v1"})
    assert posted.status_code == 422
    discarded = client.post(f"/versions/projects/{cat.project_id}/new/discard")
    assert discarded.status_code == 302
    assert client.get(f"/versions/projects/{cat.project_id}/new/1").status_code == 200


def test_an_out_of_range_id_is_not_kept_in_a_draft(app, client, auth, cat):
    auth.login("tester")
    client.post(f"/versions/projects/{cat.project_id}/new/1", data={"name": "v1", "action": "next"})
    response = client.post(
        f"/versions/projects/{cat.project_id}/new/2",
        data={"environment_id": str(10**20), "service_ids": [str(2**63)], "action": "next"},
    )
    assert response.status_code == 422
    with app.app_context():
        draft = db.session.scalar(select(VersionDraft))
        assert draft.data.get("environment_id") is None
        assert draft.data.get("service_ids") == []
    assert client.get(f"/versions/projects/{cat.project_id}/new/2").status_code == 200


def test_sqlite_enforces_foreign_keys(app):
    with app.app_context():
        assert db.session.execute(sql("PRAGMA foreign_keys")).scalar() == 1


def test_deleting_a_registry_that_versions_use_is_refused(app, admin, cat):
    with app.app_context():
        version = Version(project_id=cat.project_id, name="v1", target_registry_id=cat.registry_id)
        db.session.add(version)
        db.session.commit()
    response = admin.post(f"/catalog/registries/{cat.registry_id}/delete")
    assert response.status_code == 302
    page = admin.get(response.headers["Location"])
    assert "Cannot delete registry harbor: it is used by version shop/v1" in text(page)
    with app.app_context():
        assert db.session.get(Registry, cat.registry_id) is not None
        assert db.session.scalar(select(Version.target_registry_id)) == cat.registry_id


# --- downloads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chart_name,fallback,exact",
    [
        ("中文", "1.0.0.tgz", "%E4%B8%AD%E6%96%87-1.0.0.tgz"),
        ('a"b;c', "a_b_c-1.0.0.tgz", "a%22b%3Bc-1.0.0.tgz"),
    ],
)
def test_chart_downloads_are_safe_for_any_chart_name(app, admin, cat, chart_name, fallback, exact):
    with app.app_context():
        service = db.session.get(Service, cat.service_id)
        service.chart_name, service.chart_version = chart_name, "1.0.0"
        service.chart_archive = b"archive bytes"
        db.session.commit()
    response = admin.get(f"/catalog/services/{cat.service_id}/chart.tgz")
    assert response.status_code == 200
    assert response.data == b"archive bytes"
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"
    )


# --- chart uploads --------------------------------------------------------------------------

BIG_TEMPLATE = b"""apiVersion: v1
kind: ConfigMap
metadata:
  name: big
data:
{{- range $i := until 700000 }}
  k{{ $i }}: "{{ repeat 40 "x" }}"
{{- end }}
"""


def _chart(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _upload(admin, project_id: int, archive: bytes):
    return admin.post(
        f"/catalog/projects/{project_id}/services/new",
        data={"name": "big", "order_group": "1", "chart_file": (io.BytesIO(archive), "c.tgz")},
        content_type="multipart/form-data",
    )


@pytest.fixture
def helm_project(app):
    with app.app_context():
        project = Project(key="charts", name="Charts", kind=ProjectKind.HELM)
        db.session.add(project)
        db.session.commit()
        return project.id


def test_a_gzip_bomb_upload_is_refused_quickly(app, admin, helm_project):
    bomb = gzip.compress(b"\0" * (120 * 1024 * 1024), compresslevel=9)
    started = time.monotonic()
    response = _upload(admin, helm_project, bomb)
    assert time.monotonic() - started < 3
    assert response.status_code == 422
    assert "The chart archive unpacks to more than 50 MiB." in text(response)
    assert rows(app, Service) == []


def test_an_uploaded_chart_is_linted_and_rendered_in_a_job(app, admin, helm_project):
    chart_yaml = b"apiVersion: v2\nname: big\nversion: 0.1.0\n"
    archive = _chart({"big/Chart.yaml": chart_yaml, "big/templates/cm.yaml": BIG_TEMPLATE})
    started = time.monotonic()
    response = _upload(admin, helm_project, archive)
    assert time.monotonic() - started < 3, "the view must not render the chart"
    assert response.status_code == 302
    run_queued_jobs(app)
    page = text(admin.get(response.headers["Location"]))
    assert "Chart check" in page
    assert "render: the manifests are larger than 10 MiB" in page
    with app.app_context():
        run = db.session.scalar(select(JobRun).where(JobRun.kind == "service_chart_check"))
        assert run.status is JobStatus.FAILED


def test_a_good_chart_passes_its_check_job(app, admin, helm_project):
    archive = build_chart_archive(
        "ingest", "0.3.1", image_repository="r.example.com/ingest", image_tag="1.0"
    )
    response = _upload(admin, helm_project, archive)
    assert response.status_code == 302
    run_queued_jobs(app)
    page = text(admin.get(response.headers["Location"]))
    assert "passes Helm lint and renders" in page


@pytest.mark.parametrize(
    "values,message",
    [
        (DEEP, "nesting depth"),
        (DEEPER_THAN_ALLOWED, "nested more than 100 levels deep"),
        (LAUGHS, "too many aliases"),
        ("a: " + "1" * 5000, "a number is too long"),
        ("image: 2024-13-45\n", "The values have no key"),
    ],
)
def test_bad_values_kept_in_a_draft_show_their_problem(app, client, auth, values, message):
    archive = build_chart_archive(
        "api", "0.1.0", image_repository="r.example.com/api", image_tag="1.0"
    )
    with app.app_context():
        project = Project(key="charts", name="Charts", kind=ProjectKind.HELM)
        service = Service(
            project=project,
            name="api",
            order_group=1,
            chart_archive=archive,
            chart_name="api",
            chart_version="0.1.0",
            default_values="image:\n  repository: r.example.com/api\n  tag: '1.0'\n",
        )
        env = Environment(project=project, name="dev", namespace="charts-dev")
        state = EnvironmentService(environment=env, service=service, chart_version="0.1.0")
        db.session.add_all([project, service, env, state])
        db.session.flush()
        tester = db.session.scalar(select(User).where(User.username == "tester"))
        data = {
            "name": "v1",
            "environment_id": env.id,
            "service_ids": [service.id],
            "values": {str(service.id): values},
            "reached": 2,
        }
        db.session.add(VersionDraft(user_id=tester.id, project_id=project.id, step=2, data=data))
        db.session.commit()
        project_id = project.id
    auth.login("tester")
    for url in (f"/versions/projects/{project_id}/new", f"/versions/projects/{project_id}/new/2"):
        page = client.get(url, follow_redirects=True)
        assert page.status_code == 200, url
        assert message in text(page)
        assert "Discard this draft" in text(page)
    refused = client.post(
        f"/versions/projects/{project_id}/new/2",
        data={"environment_id": "0", "action": "next"},
    )
    assert refused.status_code == 422


@pytest.mark.parametrize(
    "step,data",
    [
        (1, {"name": "v1", "description": "a\x00b", "action": "next"}),
        (2, {"environment_id": "0", "values-0-service_id": "1", "values-0-values": "a: \x00"}),
        (2, {"environment_id": "0", "globals_yaml": "a: \x07", "action": "apply_globals"}),
    ],
)
def test_control_characters_are_never_kept_in_a_draft(app, client, auth, helm_project, step, data):
    auth.login("tester")
    client.post(f"/versions/projects/{helm_project}/new/1", data={"name": "v0"})
    before = rows(app, VersionDraft)
    response = client.post(f"/versions/projects/{helm_project}/new/{step}", data=data)
    assert response.status_code == 422
    assert "control characters" in text(response)
    assert rows(app, VersionDraft) == before


def test_an_edit_post_missing_text_fields_keeps_what_is_stored(app, admin, cat):
    response = admin.post(f"/catalog/registries/{cat.registry_id}/edit", data={"name": "harbor"})
    assert response.status_code == 302
    with app.app_context():
        registry = db.session.get(Registry, cat.registry_id)
        assert (registry.address, registry.namespace, registry.username) == (
            "registry.example.com",
            "shop",
            "robot",
        )


def test_every_form_of_the_app_crosses_the_boundary(app):
    """A form on plain FlaskForm would take file parts and NUL as text: use webapp.boundary."""
    from flask_wtf import FlaskForm
    from wtforms import Form as PlainForm

    from webapp.boundary import Form, SubForm

    seen, pending = set(), [FlaskForm, PlainForm]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
    ours = [form for form in seen if form.__module__.startswith("webapp.")]
    assert len(ours) > 15
    outside = sorted(
        f"{form.__module__}.{form.__qualname__}"
        for form in ours
        if not issubclass(form, Form | SubForm)
    )
    assert outside == []


def test_a_json_body_fills_only_scalar_fields(app, admin, cat):
    response = admin.post(
        f"/catalog/environments/{cat.environment_id}/edit",
        json={"name": "dev", "namespace": ["shop-dev"], "production": False},
    )
    assert response.status_code == 422
    assert "Send text here." in text(response)
    saved = admin.post(
        f"/catalog/environments/{cat.environment_id}/edit",
        json={"name": "dev", "namespace": "shop-dev", "production": False, "cluster_id": 0},
    )
    assert saved.status_code == 302
    with app.app_context():
        env = db.session.get(Environment, cat.environment_id)
        assert (env.production, env.cluster_id) == (False, None)


def test_a_template_over_the_limit_in_a_multipart_post_is_refused_at_its_field(app, admin, cat):
    template = DEPLOYMENT_YAML + "# " + "x" * (600 * 1024) + "\n"
    before = rows(app, Service)
    response = admin.post(
        f"/catalog/services/{cat.service_id}/edit",
        data={"name": "cart", "order_group": "1", "yaml_template": template},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "The YAML is larger than 512 KiB" in text(response)
    assert rows(app, Service) == before


def test_a_deployed_state_post_missing_the_images_box_keeps_the_images(app, admin, cat):
    admin.post(_deployed_url(cat), data={"rendered_yaml": DEPLOYMENT_YAML, "images": "web=a:1"})
    response = admin.post(_deployed_url(cat), data={"rendered_yaml": DEPLOYMENT_YAML})
    assert response.status_code == 302
    with app.app_context():
        state = db.session.scalar(select(EnvironmentService))
        assert [(i.container, i.image) for i in state.images] == [("web", "a:1")]
    page = admin.get(_deployed_url(cat))
    assert "web=a:1" in text(page)


def test_a_version_stored_with_control_characters_does_not_prefill_a_draft(app, client, auth, cat):
    with app.app_context():
        version = Version(project_id=cat.project_id, name="v1", description="old\x00text")
        db.session.add(version)
        db.session.commit()
        version_id = version.id
    auth.login("tester")
    response = client.post(f"/versions/{version_id}/copy", follow_redirects=True)
    assert response.status_code == 200
    assert "v1 cannot prefill a new version" in text(response)
    with app.app_context():
        draft = db.session.scalar(select(VersionDraft))
        assert draft is None or "description" not in draft.data
