"""Workflow pages: create, stages added with validation, reordered and removed in place."""

from __future__ import annotations

import re

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    Environment,
    Project,
    ProjectKind,
    Release,
    User,
    Version,
    VersionStatus,
    Workflow,
)


def _project(app, kind=ProjectKind.K8S_YAML) -> tuple[int, int]:
    with app.app_context():
        project = Project(key=f"p-{kind.value.replace('_', '-')}", name="Shop", kind=kind)
        env = Environment(project=project, name="prod", namespace="shop-prod", production=True)
        db.session.add(env)
        db.session.commit()
        return project.id, env.id


def _create_workflow(client, project_id: int, env_id: int, name="prod-release") -> str:
    response = client.post(
        f"/workflows/projects/{project_id}/new", data={"name": name, "environment_id": env_id}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def _stage_names(html: str) -> list[str]:
    return re.findall(r'<li id="stage-\d+">\s*<strong>([^<]+)</strong>', html)


def test_admin_builds_a_workflow_of_three_stages(app, client, auth):
    project_id, env_id = _project(app)
    auth.login("admin")
    url = _create_workflow(client, project_id, env_id)
    response = client.post(
        f"{url}/stages/new/deploy",
        data={"name": "Deploy", "content": "full", "only_existing": "y", "timeout_seconds": 300},
    )
    assert response.status_code == 302
    response = client.post(
        f"{url}/stages/new/test",
        data={"name": "Smoke", "mode": "job", "image": "", "timeout_seconds": 60},
    )
    assert response.status_code == 422
    assert "A Job test needs an image." in response.get_data(as_text=True)
    client.post(
        f"{url}/stages/new/test",
        data={
            "name": "Smoke",
            "mode": "job",
            "image": "busybox:1.36",
            "command": "sh -c 'wget -qO- http://web/healthz'",
            "timeout_seconds": 60,
        },
    )
    with app.app_context():
        release_id = db.session.scalar(select(User.id).where(User.username == "release"))
    response = client.post(
        f"{url}/stages/new/approval",
        data={
            "name": "Go/no-go",
            "approver_ids": [release_id],
            "approvals_needed": 2,
            "timeout_minutes": 30,
        },
    )
    assert response.status_code == 422
    assert "2 approvals can never be reached" in response.get_data(as_text=True)
    client.post(
        f"{url}/stages/new/approval",
        data={
            "name": "Go/no-go",
            "approver_ids": [release_id],
            "approver_roles": ["release_engineer"],
            "approvals_needed": 2,
            "timeout_minutes": 30,
            "instructions": "Check the error budget.",
        },
    )
    page = client.get(url).get_data(as_text=True)
    assert _stage_names(page) == ["Deploy", "Smoke", "Go/no-go"]
    assert "Images and configuration, only services that already exist" in page
    assert "2 approvals from release, any release engineer" in page
    with app.app_context():
        workflow = db.session.scalars(select(Workflow)).one()
        approval = workflow.stages[2].settings
        assert approval["timeout_seconds"] == 1800 and approval["allow_requester"] is False
        assert workflow.stages[1].settings["command"] == "sh -c 'wget -qO- http://web/healthz'"


def test_stages_reorder_and_remove_in_place(app, client, auth):
    project_id, env_id = _project(app)
    auth.login("admin")
    url = _create_workflow(client, project_id, env_id)
    for name in ("One", "Two", "Three"):
        client.post(
            f"{url}/stages/new/test",
            data={"name": name, "mode": "http", "checks": "http://web/ 200", "timeout_seconds": 5},
        )
    with app.app_context():
        ids = [s.id for s in db.session.scalars(select(Workflow)).one().stages]
    response = client.post(f"{url}/stages/{ids[2]}/up", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="workflow-stages">') and "<html" not in html
    assert _stage_names(html) == ["One", "Three", "Two"]
    html = client.post(f"{url}/stages/{ids[0]}/down", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert _stage_names(html) == ["Three", "One", "Two"]
    html = client.post(f"{url}/stages/{ids[1]}/delete", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert _stage_names(html) == ["Three", "One"]
    # Without htmx the same buttons answer with a redirect to the page.
    assert client.post(f"{url}/stages/{ids[0]}/up").status_code == 302
    assert _stage_names(client.get(url).get_data(as_text=True)) == ["One", "Three"]


def test_edit_stage_keeps_its_settings_in_the_form(app, client, auth):
    project_id, env_id = _project(app)
    auth.login("admin")
    url = _create_workflow(client, project_id, env_id)
    client.post(
        f"{url}/stages/new/test",
        data={
            "name": "Health",
            "mode": "http",
            "checks": "http://a/ 204\nhttp://b/",
            "timeout_seconds": 9,
        },
    )
    with app.app_context():
        stage_id = db.session.scalars(select(Workflow)).one().stages[0].id
    page = client.get(f"{url}/stages/{stage_id}/edit").get_data(as_text=True)
    assert "http://a/ 204\nhttp://b/ 200" in page
    response = client.post(
        f"{url}/stages/{stage_id}/edit",
        data={"name": "Health", "mode": "http", "checks": "ftp://nope", "timeout_seconds": 9},
    )
    assert response.status_code == 422
    assert "Line 1: write an http(s) URL" in response.get_data(as_text=True)


def test_helm_projects_get_the_helm_chart_deploy_stage(app, client, auth):
    project_id, env_id = _project(app, ProjectKind.HELM)
    auth.login("admin")
    url = _create_workflow(client, project_id, env_id)
    assert client.get(f"{url}/stages/new/deploy").status_code == 404
    assert client.get(f"{url}/stages/new/test").status_code == 200
    assert "Add deploy stage" not in client.get(url).get_data(as_text=True)
    assert "Add helm chart deploy stage" in client.get(url).get_data(as_text=True)
    response = client.post(
        f"{url}/stages/new/helm_deploy",
        data={"name": "Charts", "only_existing": "y", "timeout_seconds": 120},
    )
    assert response.status_code == 302
    assert "only releases that already exist in the environment; timeout 120s" in client.get(
        url
    ).get_data(as_text=True)


def test_duplicate_name_and_delete_refused_while_releases_use_it(app, client, auth):
    project_id, env_id = _project(app)
    auth.login("admin")
    url = _create_workflow(client, project_id, env_id)
    response = client.post(
        f"/workflows/projects/{project_id}/new",
        data={"name": "prod-release", "environment_id": env_id},
    )
    assert response.status_code == 422
    with app.app_context():
        workflow = db.session.scalars(select(Workflow)).one()
        version = Version(project_id=project_id, name="v1", status=VersionStatus.SUCCESS)
        db.session.add(
            Release(
                project_id=project_id, workflow=workflow, environment_id=env_id, version=version
            )
        )
        db.session.commit()
    client.post(f"{url}/delete")
    assert "Cannot delete workflow prod-release" in client.get(url).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Workflow)).one() is not None


def test_test_engineers_start_only_non_production_releases(app, client, auth):
    project_id, env_id = _project(app)
    auth.login("admin")
    url = _create_workflow(client, project_id, env_id)
    workflow_id = int(url.rsplit("/", 1)[1])
    auth.logout()
    auth.login("tester")
    assert client.get(f"/releases/new/{workflow_id}").status_code == 403
    with app.app_context():
        db.session.get(Environment, env_id).production = False
        db.session.commit()
    assert client.get(f"/releases/new/{workflow_id}").status_code == 200


def test_start_release_button_only_for_those_who_may(app, client, auth):
    project_id, env_id = _project(app)
    auth.login("admin")
    url = _create_workflow(client, project_id, env_id)
    client.post(
        f"{url}/stages/new/test",
        data={"name": "Health", "mode": "http", "checks": "http://a/", "timeout_seconds": 9},
    )
    assert "Start release" in client.get(url).get_data(as_text=True)
    auth.logout()
    auth.login("tester")  # production environment: not for test engineers
    assert "Start release" not in client.get(url).get_data(as_text=True)
    assert "Start release" not in client.get("/workflows/").get_data(as_text=True)
