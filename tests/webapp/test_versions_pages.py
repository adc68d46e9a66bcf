"""Version pages: list, detail, progress partial, YAML, create-from, delete, lost-job recovery."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.webapp.version_fixtures import make_version_catalog, text
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    ImageStatus,
    JobRun,
    JobStatus,
    Version,
    VersionDraft,
    VersionImage,
    VersionLabel,
    VersionService,
    VersionStatus,
)
from webapp.models.base import utcnow

YAML = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cart\n"


@pytest.fixture
def cat(app):
    return make_version_catalog(app, "127.0.0.1:5999", {"cart": {"cart": "src.example.com/c:1"}})


def add_version(app, cat, name, status=VersionStatus.SUCCESS, labels=(), services=("cart",)):
    """A version row as the job leaves it."""
    with app.app_context():
        version = Version(
            project_id=cat.project_id,
            name=name,
            status=status,
            source_environment_id=cat.environment_id,
            source_environment_name="dev",
            target_registry_id=cat.registry_id,
            target_registry_address="127.0.0.1:5999",
            created_at=utcnow(),
        )
        version.labels = [VersionLabel(name=label) for label in labels]
        for service_name in services:
            service = VersionService(
                name=service_name,
                service_id=cat.service_ids.get(service_name),
                yaml=YAML.replace("cart", service_name),
                order_group=1,
            )
            image = VersionImage(
                container=service_name,
                source_ref=f"src.example.com/{service_name}:1",
                target_ref=f"127.0.0.1:5999/prod/{service_name}:{name}",
                status=ImageStatus.DONE if status == VersionStatus.SUCCESS else ImageStatus.QUEUED,
                bytes_total=3 << 20,
                bytes_copied=1 << 20,
            )
            service.images.append(image)
            version.services.append(service)
            version.images.append(image)
        db.session.add(version)
        db.session.commit()
        return version.id


def test_progress_partial_polls_while_creating_and_stops_when_finished(app, client, auth, cat):
    version_id = add_version(app, cat, "v1", status=VersionStatus.CREATING)
    auth.login("viewer")
    with app.app_context():
        image = db.session.scalars(select(VersionImage)).one()
        image.status = ImageStatus.COPYING
        db.session.commit()
    response = client.get(f"/versions/{version_id}/progress")
    assert response.status_code == 200
    html = text(response)
    assert 'hx-trigger="every 1s"' in html and "HX-Request" in response.headers["Vary"]
    assert '<progress value="1048576" max="3145728"' in html
    assert "hx-trigger" in text(client.get(f"/versions/{version_id}"))
    with app.app_context():
        version = db.session.get(Version, version_id)
        version.images[0].status = ImageStatus.FAILED
        version.images[0].error = "manifest unknown: src.example.com/cart:1"
        version.move_to(VersionStatus.FAILED, "1 of 1 images failed")
        db.session.commit()
    response = client.get(f"/versions/{version_id}/progress")
    assert response.status_code == 286
    html = text(response)
    assert "hx-trigger" not in html and "manifest unknown" in html


def test_detail_shows_images_yaml_order_and_jobs(app, client, auth, cat):
    version_id = add_version(app, cat, "v1", labels=("qa",), services=("cart", "web"))
    auth.login("viewer")
    html = text(client.get(f"/versions/{version_id}"))
    assert "127.0.0.1:5999/prod/cart:v1" in html and "src.example.com/web:1" in html
    assert '<span class="nt">kind</span>' in html  # highlighted by Pygments
    assert "css/pygments.css" in html
    assert "<td>1</td><td>cart, web</td>" in html
    assert "No release has used this version yet." in html
    assert "Retry" not in html and "Delete" not in html  # a viewer only reads
    with app.app_context():
        service_id = db.session.scalar(
            select(VersionService.id).where(VersionService.name == "web")
        )
    download = client.get(f"/versions/{version_id}/services/{service_id}.yaml")
    assert download.status_code == 200
    assert text(download) == YAML.replace("cart", "web")
    assert 'filename="v1-web.yaml"' in download.headers["Content-Disposition"]
    other = add_version(app, cat, "v2")
    assert client.get(f"/versions/{other}/services/{service_id}.yaml").status_code == 404
    with app.app_context():
        db.session.get(Version, other).created_from_id = version_id
        db.session.commit()
    html = text(client.get(f"/versions/{other}"))
    assert f'<dt>Created from</dt><dd><a href="/versions/{version_id}">v1</a>' in html


def test_list_filters_by_label_searches_and_pages(app, client, auth, cat):
    add_version(app, cat, "old", labels=("qa",))
    add_version(app, cat, "mid", labels=("hotfix",), services=("cart", "search-api"))
    add_version(app, cat, "new", status=VersionStatus.CREATING, labels=("qa",))
    auth.login("viewer")
    html = text(client.get(f"/versions/projects/{cat.project_id}/"))
    assert html.index(">new<") < html.index(">mid<") < html.index(">old<")
    assert "Create version" not in html  # viewers do not create
    assert 'hx-get="/versions/' in html  # the creating one is live
    qa = text(client.get(f"/versions/projects/{cat.project_id}/?label=qa"))
    assert ">new<" in qa and ">old<" in qa and ">mid<" not in qa
    by_service = text(client.get(f"/versions/projects/{cat.project_id}/?q=search"))
    assert ">mid<" in by_service and ">old<" not in by_service
    app.config["PAGE_SIZE"] = 2
    paged = text(client.get(f"/versions/projects/{cat.project_id}/"))
    assert "Page 1 of 2" in paged and ">old<" not in paged
    assert ">old<" in text(client.get(f"/versions/projects/{cat.project_id}/?page=2"))


def test_create_from_this_version_prefills_a_draft(app, client, auth, cat):
    version_id = add_version(app, cat, "v1", labels=("qa",))
    auth.login("tester")
    response = client.post(f"/versions/{version_id}/copy")
    assert response.headers["Location"].endswith("/new/1")
    page = text(client.get(response.headers["Location"]))
    assert 'value="qa"' in page and "prefilled from v1" in page
    with app.app_context():
        draft = db.session.scalars(select(VersionDraft)).one()
        assert draft.data["environment_id"] == cat.environment_id
        assert draft.data["service_ids"] == [cat.service_ids["cart"]]
        assert draft.data["registry_id"] == cat.registry_id
        assert draft.data["created_from_id"] == version_id


def test_delete_is_soft_audited_and_refused_while_creating_or_used(app, client, auth, cat):
    from webapp.versions import services

    creating = add_version(app, cat, "busy", status=VersionStatus.CREATING)
    used = add_version(app, cat, "used")
    free = add_version(app, cat, "free")
    auth.login("tester")
    client.post(f"/versions/{creating}/delete")
    checks = list(services._usage_checks)
    services.register_usage_check(lambda v: ["release #7"] if v.name == "used" else [])
    try:
        response = client.post(f"/versions/{used}/delete", follow_redirects=True)
        assert "it is used by release #7" in text(response)
    finally:
        services._usage_checks[:] = checks
    assert client.post(f"/versions/{free}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(Version, creating).deleted_at is None
        assert db.session.get(Version, used).deleted_at is None
        assert db.session.get(Version, free).deleted_at is not None  # the row stays
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "delete")).one()
        assert event.object_name == "free" and event.username == "tester"
    assert client.get(f"/versions/{free}").status_code == 404
    assert ">free<" not in text(client.get(f"/versions/projects/{cat.project_id}/"))
    auth.logout()
    auth.login("viewer")
    assert client.post(f"/versions/{used}/delete").status_code == 403


def test_status_moves_only_along_the_rules(app, cat):
    with app.app_context():
        version = Version(project_id=cat.project_id, name="r", status=VersionStatus.SUCCESS)
        with pytest.raises(ValueError, match="cannot become retrying"):
            version.move_to(VersionStatus.RETRYING)
        version.status = VersionStatus.CREATING
        with pytest.raises(ValueError):
            version.move_to(VersionStatus.RETRYING)
        version.move_to(VersionStatus.FAILED, "x")
        version.move_to(VersionStatus.RETRYING)
        assert version.error is None and version.finished_at is None


def test_the_reaper_requeues_a_lost_copy_and_gives_up_after_three(app, cat):
    from webapp.jobruns.reaper import reap
    from webapp.versions.services import start_copy

    version_id = add_version(app, cat, "v1", status=VersionStatus.CREATING)
    with app.app_context():
        version = db.session.get(Version, version_id)
        first = start_copy(version, None)
        from redis import Redis

        Redis.from_url(app.config["REDIS_URL"]).flushdb()  # Redis loses the job
        reaped = reap()
        assert [r.id for r in reaped] == [first.id]
        db.session.refresh(version)
        assert version.status == VersionStatus.CREATING
        assert "Requeued as a new job." in db.session.get(JobRun, first.id).error
        newest = db.session.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
        assert newest.id != first.id and newest.target_id == version.id
        assert newest.status == JobStatus.QUEUED
        assert reap() == []  # the new run is in Redis: nothing more to do
        for _ in range(3):
            Redis.from_url(app.config["REDIS_URL"]).flushdb()
            reap()
        db.session.refresh(version)
        assert version.status == VersionStatus.FAILED
        assert "The copy job was lost 4 times" in version.error
