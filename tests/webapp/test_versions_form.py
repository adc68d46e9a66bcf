"""The three-step version form: steps, Back/Next, reload, bad inputs, double click."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from tests.helpers import PASSWORD
from tests.webapp.version_fixtures import (
    create_through_form,
    image_rows,
    images_post,
    make_version_catalog,
    step_url,
    text,
)
from webapp.extensions import db
from webapp.models import (
    ImageStatus,
    JobRun,
    Version,
    VersionDraft,
    VersionImage,
    VersionService,
    VersionStatus,
)

SOURCE = "src.example.com:5000"
TARGET = "127.0.0.1:5999"


@pytest.fixture
def cat(app):
    return make_version_catalog(
        app,
        TARGET,
        {
            "cart": {"cart": f"{SOURCE}/shop/cart:1.0"},
            "web": {"web": f"{SOURCE}/shop/web:2.1", "proxy": f"{SOURCE}/infra/envoy:1.30"},
        },
        order={"cart": 1, "web": 2},
    )


@pytest.fixture
def tester(client, auth):
    auth.login("tester")
    return client


def _basics(client, cat, **fields):
    return client.post(step_url(cat, 1), data={"action": "next", **fields})


def _services(client, cat, action="next", **fields):
    return client.post(step_url(cat, 2), data={"action": action, **fields})


def _to_step_3(client, cat, name="v1.0", labels=""):
    assert _basics(client, cat, name=name, labels=labels).status_code == 302
    everything = list(cat.service_ids.values())
    response = _services(client, cat, environment_id=cat.environment_id, service_ids=everything)
    assert response.status_code == 302
    return client.post(
        step_url(cat, 3), data={"registry_id": cat.registry_id, "action": "registry"}
    )


def test_each_step_then_create_writes_the_version_and_enqueues_the_copy(app, tester, cat):
    assert (
        tester.get(f"/versions/projects/{cat.project_id}/new")
        .headers["Location"]
        .endswith("/new/1")
    )
    assert _basics(tester, cat, name="v1.0", labels="sprint-12, hotfix").status_code == 302
    step2 = _services(tester, cat, "environment", environment_id=cat.environment_id)
    assert step2.status_code == 200
    html = text(step2)
    assert html.count('name="service_ids"') == 2 and html.count("checked") == 2
    assert "group 1" in html and "group 2" in html
    # No registry yet: the preview rewrites images to their bare names.
    assert "image: envoy:v1.0" in html
    step3 = _to_step_3(tester, cat, labels="sprint-12, hotfix")
    rows = image_rows(text(step3))
    assert rows[f"{cat.service_ids['web']}/proxy"]["repository"] == f"{TARGET}/prod/envoy"
    assert {row["tag"] for row in rows.values()} == {"v1.0"}
    response = tester.post(
        step_url(cat, 3), data=images_post(text(step3), "create", registry_id=cat.registry_id)
    )
    assert response.status_code == 302
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert response.headers["Location"].endswith(f"/versions/{version.id}")
        assert version.status == VersionStatus.CREATING
        assert version.label_names == ["hotfix", "sprint-12"]
        assert version.created_by.username == "tester"
        web = db.session.scalar(select(VersionService).where(VersionService.name == "web"))
        assert f"image: {TARGET}/prod/envoy:v1.0" in web.yaml
        assert f"image: {TARGET}/prod/web:v1.0" in web.yaml
        assert web.order_group == 2
        images = {i.container: i for i in db.session.scalars(select(VersionImage))}
        assert images["proxy"].source_ref == f"{SOURCE}/infra/envoy:1.30"
        assert images["proxy"].target_ref == f"{TARGET}/prod/envoy:v1.0"
        assert {i.status for i in images.values()} == {ImageStatus.QUEUED}
        run = db.session.get(JobRun, version.job_run_id)
        assert run.kind == "version_create" and run.target_id == version.id
        assert db.session.scalar(select(VersionDraft)).consumed_at is not None
    # The draft is used up: the form starts afresh.
    assert (
        tester.get(f"/versions/projects/{cat.project_id}/new")
        .headers["Location"]
        .endswith("/new/1")
    )


def test_back_next_and_reload_lose_nothing(tester, cat):
    _basics(tester, cat, name="v2", labels="a b", description="frozen after QA")
    page = text(tester.get(step_url(cat, 1)))  # reload
    assert 'value="v2"' in page and 'value="a, b"' in page and "frozen after QA" in page
    _services(tester, cat, "environment", environment_id=cat.environment_id)
    response = _services(
        tester,
        cat,
        "back",
        environment_id=cat.environment_id,
        service_ids=[cat.service_ids["web"]],
    )
    assert response.headers["Location"].endswith("/new/1")
    assert (
        tester.get(f"/versions/projects/{cat.project_id}/new")
        .headers["Location"]
        .endswith("/new/1")
    )
    _basics(tester, cat, name="v2", labels="a b")
    step2 = text(tester.get(step_url(cat, 2)))
    assert f'value="{cat.service_ids["web"]}" checked' in step2
    assert f'value="{cat.service_ids["cart"]}" >' in step2  # still unchecked
    # Step 3: a typed tag and a push switched off survive Back and a reload.
    _services(tester, cat, environment_id=cat.environment_id, service_ids=[cat.service_ids["web"]])
    page = text(
        tester.post(step_url(cat, 3), data={"registry_id": cat.registry_id, "action": "registry"})
    )
    data = images_post(page, "back", registry_id=cat.registry_id)
    proxy = image_rows(page)[f"{cat.service_ids['web']}/proxy"]["index"]
    data[f"images-{proxy}-tag"] = "custom-tag"
    del data[f"images-{proxy}-push"]
    assert tester.post(step_url(cat, 3), data=data).headers["Location"].endswith("/new/2")
    # Step 3 was reached: the steps bar still links to it, and it opens.
    assert f'href="{step_url(cat, 3)}"' in text(tester.get(step_url(cat, 2)))
    assert tester.get(step_url(cat, 3)).status_code == 200
    # Leaving and coming back resumes at the step reached.
    _services(tester, cat, environment_id=cat.environment_id, service_ids=[cat.service_ids["web"]])
    assert (
        tester.get(f"/versions/projects/{cat.project_id}/new")
        .headers["Location"]
        .endswith("/new/3")
    )
    rows = image_rows(text(tester.get(step_url(cat, 3))))
    assert rows[f"{cat.service_ids['web']}/proxy"]["tag"] == "custom-tag"
    assert rows[f"{cat.service_ids['web']}/proxy"]["push"] is False
    assert rows[f"{cat.service_ids['web']}/web"]["push"] is True
    # The preview of step 2 follows what step 3 set.
    step2 = text(tester.get(step_url(cat, 2)))
    assert f"image: {SOURCE}/infra/envoy:1.30" in step2  # not pushed: source kept
    assert f"image: {TARGET}/prod/web:v2" in step2


def test_apply_to_all_sets_every_tag(tester, cat):
    page = text(_to_step_3(tester, cat))
    response = tester.post(
        step_url(cat, 3),
        data=images_post(page, "apply_tags", registry_id=cat.registry_id, all_tags="rc-7"),
    )
    assert response.status_code == 200
    assert {row["tag"] for row in image_rows(text(response)).values()} == {"rc-7"}


@pytest.mark.parametrize(
    "fields,field,message",
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "-bad"}, "name", "starting with a letter or digit"),
        ({"name": "has space"}, "name", "starting with a letter or digit"),
        ({"name": "x" * 129}, "name", "128"),
        ({"name": "ok", "labels": "good, b@d"}, "labels", "Label &#39;b@d&#39;"),
    ],
)
def test_bad_basics_are_refused_beside_the_field(tester, cat, fields, field, message):
    response = _basics(tester, cat, **fields)
    assert response.status_code == 422
    html = text(response)
    assert f'id="{field}-error"' in html
    assert message in html.split(f'id="{field}-error"')[1][:300]


def test_duplicate_name_is_refused(app, tester, cat):
    assert create_through_form(tester, cat, "v1").status_code == 302
    response = _basics(tester, cat, name="v1")
    assert response.status_code == 422
    assert "A version with this name exists in this project." in text(response)
    check = tester.get(f"/versions/projects/{cat.project_id}/name-check?name=v1")
    assert "A version with this name exists" in text(check)
    assert "is free" in text(tester.get(f"/versions/projects/{cat.project_id}/name-check?name=v9"))
    assert "starting with a letter" in text(
        tester.get(f"/versions/projects/{cat.project_id}/name-check?name=.x")
    )


def test_the_unique_constraint_holds_without_the_form(app, cat):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        for _ in range(2):
            db.session.add(Version(project_id=cat.project_id, name="same"))
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_name_taken_between_step_1_and_create_is_caught_at_create(app, tester, cat, client):
    page = text(_to_step_3(tester, cat, name="race"))
    with app.app_context():
        db.session.add(Version(project_id=cat.project_id, name="race"))
        db.session.commit()
    response = tester.post(
        step_url(cat, 3), data=images_post(page, "create", registry_id=cat.registry_id)
    )
    assert response.status_code == 422
    assert "A version with this name exists in this project." in text(response)


def test_no_environment_and_no_services_are_refused(tester, cat):
    _basics(tester, cat, name="v1")
    response = _services(tester, cat)
    assert response.status_code == 422
    assert "Pick the source environment." in text(response)
    response = _services(tester, cat, environment_id=cat.environment_id)
    assert response.status_code == 422
    html = text(response)
    assert 'id="service_ids-error"' in html and "Pick at least one service." in html
    response = _services(tester, cat, environment_id=cat.environment_id, service_ids=[9999])
    assert response.status_code == 422  # not a service of this environment
    response = _services(tester, cat, "none", environment_id=cat.environment_id)
    assert "checked" not in response.get_data(as_text=True).split('id="draft-services"')[1]


def test_no_registry_and_bad_tag_and_foreign_repository_are_refused(tester, cat):
    page = text(_to_step_3(tester, cat))
    response = tester.post(step_url(cat, 3), data=images_post(page, "create", registry_id=0))
    assert response.status_code == 422
    assert "Choose the target registry." in text(response)
    data = images_post(page, "create", registry_id=cat.registry_id)
    data["images-0-tag"] = ".bad tag"
    data["images-1-repository"] = "elsewhere.example.com/prod/web"
    response = tester.post(step_url(cat, 3), data=data)
    assert response.status_code == 422
    html = text(response)
    assert 'id="images-0-tag-error"' in html and "A tag is up to 128" in html
    assert 'id="images-1-repository-error"' in html
    assert f"must be in the target registry {TARGET}" in html
    bad_all = images_post(page, "apply_tags", registry_id=cat.registry_id, all_tags="-x")
    response = tester.post(step_url(cat, 3), data=bad_all)
    assert response.status_code == 422
    assert 'id="all_tags-error"' in text(response)
    # From htmx, only the images region comes back, with the message in it.
    response = tester.post(
        step_url(cat, 3), data=bad_all, headers={"HX-Request": "true", "HX-Target": "draft-images"}
    )
    assert response.status_code == 422
    assert text(response).lstrip().startswith('<div id="draft-images">')
    assert 'id="all_tags-error"' in text(response)


def test_a_double_click_on_create_makes_one_version(app, tester, cat):
    page = text(_to_step_3(tester, cat))
    data = images_post(page, "create", registry_id=cat.registry_id)
    first = tester.post(step_url(cat, 3), data=data)
    second = tester.post(step_url(cat, 3), data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Version.id))) == 1
        copies = select(func.count(JobRun.id)).where(JobRun.kind == "version_create")
        assert db.session.scalar(copies) == 1  # one copy job (step 3 also looked up the tags)


def test_two_simultaneous_creates_make_one_version(app, cat):
    clients = [app.test_client() for _ in range(2)]
    for client in clients:
        client.post("/auth/login", data={"username": "tester", "password": PASSWORD})
    page = text(_to_step_3(clients[0], cat))
    data = images_post(page, "create", registry_id=cat.registry_id)
    barrier = threading.Barrier(2)
    answers = []

    def click(client):
        barrier.wait()
        answers.append(client.post(step_url(cat, 3), data=data))

    threads = [threading.Thread(target=click, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(a.status_code for a in answers) == [302, 302]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Version.id))) == 1


def test_only_test_engineers_and_admins_create(client, auth, cat):
    for role, status in (("viewer", 403), ("release", 403), ("admin", 302)):
        auth.login(role)
        assert _basics(client, cat, name=f"by-{role}").status_code == status
        auth.logout()


def test_htmx_refreshes_only_the_region_that_changed(tester, cat):
    _basics(tester, cat, name="v3")
    htmx = {"HX-Request": "true", "HX-Target": "draft-services"}
    response = tester.post(
        step_url(cat, 2),
        data={"action": "environment", "environment_id": cat.environment_id},
        headers=htmx,
    )
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    html = text(response)
    assert html.lstrip().startswith('<div id="draft-services">') and "<html" not in html
    assert html.count("checked") == 2
    _services(tester, cat, environment_id=cat.environment_id, service_ids=[cat.service_ids["cart"]])
    page = text(tester.get(step_url(cat, 3)))
    assert image_rows(page)[f"{cat.service_ids['cart']}/cart"]["repository"] == "cart"
    response = tester.post(
        step_url(cat, 3),
        data=images_post(page, "registry", registry_id=cat.registry_id),
        headers={"HX-Request": "true", "HX-Target": "draft-images"},
    )
    assert response.status_code == 200 and "<html" not in text(response)
    rows = image_rows(text(response))
    assert rows[f"{cat.service_ids['cart']}/cart"]["repository"] == f"{TARGET}/prod/cart"


def test_images_not_pushed_keep_their_source_and_need_no_copy(app, tester, cat):
    from tests.helpers import run_queued_jobs

    page = text(_to_step_3(tester, cat))
    data = images_post(page, "create", registry_id=cat.registry_id)
    for key in [k for k in data if k.endswith("-push")]:
        del data[key]
    location = tester.post(step_url(cat, 3), data=data).headers["Location"]
    run_queued_jobs(app)
    with app.app_context():
        version = db.session.scalars(select(Version)).one()
        assert version.status == VersionStatus.SUCCESS
        assert {i.status for i in version.images} == {ImageStatus.SKIPPED}
        web = db.session.scalar(select(VersionService).where(VersionService.name == "web"))
        assert f"image: {SOURCE}/infra/envoy:1.30" in web.yaml
    assert "not pushed: the source is kept" in text(tester.get(location))
