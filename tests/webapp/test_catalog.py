"""Catalog create/edit/delete through the pages, with the bad inputs a person makes."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from sandbox.charts import build_chart_archive
from tests.webapp.catalog_fixtures import make_catalog
from tests.webapp.samples import DEPLOYMENT_YAML, KUBECONFIG, SERVICE_ONLY_YAML
from webapp.extensions import db
from webapp.models import Cluster, Project, Registry, Service


@pytest.fixture
def admin(client, auth):
    auth.login("admin")
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def test_create_cluster_from_pasted_kubeconfig(app, admin):
    response = admin.post(
        "/catalog/clusters/new", data={"name": "staging", "kubeconfig_text": KUBECONFIG}
    )
    assert response.status_code == 302
    page = text(admin.get(response.headers["Location"]))
    assert "Cluster staging" in page
    assert "https://127.0.0.1:6443" in page
    with app.app_context():
        assert db.session.scalar(select(Cluster).where(Cluster.name == "staging")).kubeconfig


def test_create_cluster_from_uploaded_kubeconfig(app, admin):
    response = admin.post(
        "/catalog/clusters/new",
        data={"name": "uploaded", "kubeconfig_file": (io.BytesIO(KUBECONFIG.encode()), "config")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    "kubeconfig,message",
    [
        ("", "Paste or upload a kubeconfig"),
        ("clusters: [", "does not parse"),
        ("just a string", "not a YAML mapping"),
        ("apiVersion: v1\nkind: Config\nclusters: []\n", "at least one cluster"),
        (KUBECONFIG.replace("current-context: demo", "current-context: nope"), "nope"),
        (KUBECONFIG.replace("https://127.0.0.1:6443", "ftp://x"), "http(s) URL"),
    ],
)
def test_bad_kubeconfig_is_refused_with_the_reason(admin, kubeconfig, message):
    response = admin.post(
        "/catalog/clusters/new", data={"name": "bad", "kubeconfig_text": kubeconfig}
    )
    assert response.status_code == 422
    assert message in text(response)


def test_duplicate_names_are_refused(app, admin):
    make_catalog(app)
    cases = [
        ("/catalog/clusters/new", {"name": "prod-cluster", "kubeconfig_text": KUBECONFIG}),
        ("/catalog/registries/new", {"name": "harbor", "address": "r.example.com"}),
        ("/catalog/projects/new", {"key": "shop", "name": "Again", "kind": "helm"}),
    ]
    for url, data in cases:
        response = admin.post(url, data=data)
        assert response.status_code == 422, url
        assert "exists" in text(response)


def test_duplicate_service_and_environment_in_a_project(app, admin):
    ids = make_catalog(app)
    response = admin.post(
        f"/catalog/projects/{ids.project_id}/services/new",
        data={"name": "cart", "order_group": "1", "yaml_template": DEPLOYMENT_YAML},
    )
    assert response.status_code == 422
    assert "A service with this name exists in the project." in text(response)
    response = admin.post(
        f"/catalog/projects/{ids.project_id}/environments/new",
        data={"name": "dev", "namespace": "x", "cluster_id": "0"},
    )
    assert response.status_code == 422
    assert "An environment with this name exists" in text(response)


@pytest.mark.parametrize(
    "data,message",
    [
        ({"name": "Bad Name", "address": "r.example.com"}, "Lower-case letters"),
        ({"name": "r", "address": "https://r.example.com"}, "without http://"),
        ({"name": "r", "address": "r.example.com/path"}, "without http://"),
        ({"name": "r", "address": ""}, "This field is required"),
        ({"name": "r", "address": "r.example.com", "namespace": "Team/X"}, "Lower-case path"),
    ],
)
def test_bad_registry_fields(admin, data, message):
    response = admin.post("/catalog/registries/new", data=data)
    assert response.status_code == 422
    assert message in text(response)


@pytest.mark.parametrize(
    "template,message",
    [
        ("kind: [", "does not parse"),
        (SERVICE_ONLY_YAML, "no workload with containers"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n", "no workload"),
        ("kind: Deployment\n", "apiVersion and kind"),
        ("- a\n- b\n", "not a YAML mapping"),
        ("", "This field is required"),
    ],
)
def test_bad_service_templates(app, admin, template, message):
    ids = make_catalog(app)
    response = admin.post(
        f"/catalog/projects/{ids.project_id}/services/new",
        data={"name": "web", "order_group": "2", "yaml_template": template},
    )
    assert response.status_code == 422
    assert message in text(response)


def test_oversized_template_is_refused(app, admin):
    ids = make_catalog(app)
    app.config["MAX_YAML_BYTES"] = 1024
    big = DEPLOYMENT_YAML + "# " + "x" * 2000 + "\n"
    response = admin.post(
        f"/catalog/projects/{ids.project_id}/services/new",
        data={"name": "web", "order_group": "1", "yaml_template": big},
    )
    assert response.status_code == 422
    assert "larger than 1 KiB" in text(response)


def test_k8s_service_round_trip(app, admin):
    ids = make_catalog(app)
    response = admin.post(
        f"/catalog/projects/{ids.project_id}/services/new",
        data={"name": "web", "order_group": "2", "yaml_template": DEPLOYMENT_YAML},
    )
    assert response.status_code == 302
    page = text(admin.get(response.headers["Location"]))
    assert "registry.example.com/shop/cart:1.0.0" in page
    project_page = text(admin.get(f"/catalog/projects/{ids.project_id}"))
    assert "group 2" in project_page and ">web<" in project_page


@pytest.fixture
def helm_project(app):
    with app.app_context():
        project = Project(key="charts", name="Charts", kind="helm")
        db.session.add(project)
        db.session.commit()
        return project.id


def test_helm_service_upload_is_loaded_by_helm(app, admin, helm_project):
    archive = build_chart_archive(
        "ingest", "0.3.1", image_repository="r.example.com/ingest", image_tag="1.0"
    )
    response = admin.post(
        f"/catalog/projects/{helm_project}/services/new",
        data={"name": "ingest", "order_group": "1", "chart_file": (io.BytesIO(archive), "c.tgz")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = text(admin.get(response.headers["Location"]))
    assert "ingest 0.3.1" in page
    assert "repository: r.example.com/ingest" in page
    with app.app_context():
        service = db.session.scalar(select(Service).where(Service.name == "ingest"))
        download = admin.get(f"/catalog/services/{service.id}/chart.tgz")
    assert download.data == archive
    assert download.headers["Content-Type"] == "application/gzip"


def _tgz(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            archive.addfile(info)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "archive,message",
    [
        (b"\x8b\x1f random bytes" * 50, "not a gzip"),
        (_tgz({"../evil/Chart.yaml": b"name: x"}), "points outside the chart"),
        (_tgz({"/abs/Chart.yaml": b"name: x"}), "points outside the chart"),
        (_tgz({"c/Chart.yaml": b"apiVersion: v2\nname: c\nversion: 1.0.0\n"}, ("c/l",)), "link"),
        (_tgz({"c/values.yaml": b"a: 1\n"}), "Chart.yaml file is missing"),
    ],
)
def test_bad_chart_uploads(admin, helm_project, archive, message):
    response = admin.post(
        f"/catalog/projects/{helm_project}/services/new",
        data={"name": "bad", "order_group": "1", "chart_file": (io.BytesIO(archive), "c.tgz")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert message in text(response)


def test_chart_over_the_size_limit(app, admin, helm_project):
    app.config["MAX_CHART_BYTES"] = 100
    archive = build_chart_archive("big", "1.0.0", image_repository="r/x", image_tag="1")
    response = admin.post(
        f"/catalog/projects/{helm_project}/services/new",
        data={"name": "big", "order_group": "1", "chart_file": (io.BytesIO(archive), "c.tgz")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "larger than" in text(response)


def test_delete_in_use_is_refused_naming_the_users(app, admin):
    ids = make_catalog(app)
    response = admin.post(f"/catalog/clusters/{ids.cluster_id}/delete", follow_redirects=True)
    assert "Cannot delete cluster prod-cluster: it is used by environment shop/dev" in text(
        response
    )
    response = admin.post(f"/catalog/projects/{ids.project_id}/delete", follow_redirects=True)
    assert "used by service cart, environment dev" in text(response)
    response = admin.post(f"/catalog/services/{ids.service_id}/delete", follow_redirects=True)
    assert "used by environment dev" in text(response)
    with app.app_context():
        assert db.session.get(Cluster, ids.cluster_id) is not None


def test_delete_unused_objects(app, admin):
    ids = make_catalog(app)
    assert admin.post(f"/catalog/environments/{ids.environment_id}/delete").status_code == 302
    assert admin.post(f"/catalog/clusters/{ids.cluster_id}/delete").status_code == 302
    assert admin.post(f"/catalog/registries/{ids.registry_id}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(Cluster, ids.cluster_id) is None
        assert db.session.get(Registry, ids.registry_id) is None


def test_edit_keeps_secrets_when_left_empty(app, admin):
    ids = make_catalog(app)
    response = admin.post(
        f"/catalog/registries/{ids.registry_id}/edit",
        # Same address: a changed one drops the password (tests/webapp/test_security.py).
        data={"name": "harbor2", "address": "registry.example.com", "username": "robot"},
    )
    assert response.status_code == 302
    response = admin.post(
        f"/catalog/clusters/{ids.cluster_id}/edit", data={"name": "renamed", "kubeconfig_text": ""}
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Registry, ids.registry_id).password == "registry-SECRET-pw-456"
        assert db.session.get(Cluster, ids.cluster_id).kubeconfig == KUBECONFIG


def test_environment_deployed_state_is_editable(app, admin):
    ids = make_catalog(app)
    url = f"/catalog/environments/{ids.environment_id}/services/{ids.service_id}"
    bad = admin.post(url, data={"images": "no equals sign"})
    assert bad.status_code == 422
    assert "write container=image" in text(bad)
    good = admin.post(url, data={"images": "cart=registry.example.com/shop/cart:2.0.0"})
    assert good.status_code == 302
    again = admin.post(url, data={"images": "cart=registry.example.com/shop/cart:2.1.0\nside=x:1"})
    assert again.status_code == 302
    page = text(admin.get(f"/catalog/environments/{ids.environment_id}"))
    assert "registry.example.com/shop/cart:2.1.0" in page and "x:1" in page
    assert "cart:2.0.0" not in page


def test_environment_without_cluster_says_so(app, admin):
    ids = make_catalog(app)
    response = admin.post(
        f"/catalog/projects/{ids.project_id}/environments/new",
        data={"name": "qa", "namespace": "shop-qa", "cluster_id": "0"},
    )
    assert response.status_code == 302
    page = text(admin.get(response.headers["Location"]))
    assert "No cluster is attached" in page


def test_project_kind_cannot_change_with_services(app, admin):
    ids = make_catalog(app)
    response = admin.post(
        f"/catalog/projects/{ids.project_id}/edit",
        data={"key": "shop", "name": "S", "kind": "helm"},
    )
    assert response.status_code == 422
    assert "cannot change while the project has services" in text(response)


def test_missing_objects_are_404_pages(admin):
    for url in ["/catalog/clusters/999", "/catalog/services/999", "/jobs/999"]:
        response = admin.get(url)
        assert response.status_code == 404
        assert "Not found" in text(response)


def test_environment_and_project_used_by_workflows_and_versions_are_kept(app, admin):
    from webapp.models import Environment, Version, Workflow

    ids = make_catalog(app)
    with app.app_context():
        env = db.session.get(Environment, ids.environment_id)
        db.session.add(Workflow(project_id=ids.project_id, name="to-dev", environment=env))
        db.session.add(Version(project_id=ids.project_id, name="1.0.0"))
        db.session.commit()
    response = admin.post(
        f"/catalog/environments/{ids.environment_id}/delete", follow_redirects=True
    )
    assert "Cannot delete environment dev: it is used by workflow to-dev" in text(response)
    response = admin.post(f"/catalog/projects/{ids.project_id}/delete", follow_redirects=True)
    assert "version 1.0.0" in text(response) and "workflow to-dev" in text(response)
    with app.app_context():
        assert db.session.get(Environment, ids.environment_id) is not None


def test_service_page_queries_do_not_grow_with_environments(app, admin):
    from sqlalchemy import event

    from webapp.catalog.state import record_deployed
    from webapp.models import Environment

    ids = make_catalog(app)
    statements: list[str] = []

    def count_queries() -> int:
        db.session.remove()  # the request shares this app context: start from an empty session
        statements.clear()
        assert admin.get(f"/catalog/services/{ids.service_id}").status_code == 200
        return len(statements)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        count_queries()  # warm up: the signed-in user stays cached in this app context
        one_environment = count_queries()
        service = db.session.get(Service, ids.service_id)
        for name in ("qa", "stage", "perf"):
            env = Environment(project_id=ids.project_id, name=name, namespace=f"shop-{name}")
            db.session.add(env)
            record_deployed(env, service, {"cart": f"registry.example.com/shop/cart:{name}"})
        db.session.commit()
        page = admin.get(f"/catalog/services/{ids.service_id}").get_data(as_text=True)
        assert "cart:perf" in page
        assert count_queries() == one_environment
