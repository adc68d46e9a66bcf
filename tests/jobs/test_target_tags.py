"""Target tags are immutable: the form and the copy job refuse to overwrite one."""

# The web app's fixtures are imported below, so test arguments shadow them by design.
# ruff: noqa: F811

from __future__ import annotations

import time

import requests
from sqlalchemy import select

from sandbox.images import push_demo_image
from tests.helpers import run_queued_jobs
from tests.jobs.test_version_job import SourceProxy, registry_digest
from tests.webapp.version_fixtures import (
    create_through_form,
    image_rows,
    images_post,
    make_version_catalog,
    step_url,
    text,
)
from webapp.extensions import db
from webapp.models import ImageStatus, Version, VersionStatus


def _to_step_3(client, cat, name: str) -> str:
    assert client.post(step_url(cat, 1), data={"name": name, "action": "next"}).status_code == 302
    response = client.post(
        step_url(cat, 2),
        data={
            "environment_id": cat.environment_id,
            "service_ids": list(cat.service_ids.values()),
            "action": "next",
        },
    )
    assert response.status_code == 302, text(response)
    page = client.post(
        step_url(cat, 3), data={"registry_id": cat.registry_id, "action": "registry"}
    )
    assert page.status_code == 200, text(page)
    return text(page)


def _create_with(client, cat, page: str, **fields):
    data = images_post(page, "create", registry_id=cat.registry_id)
    index = next(iter(image_rows(page).values()))["index"]
    for name, value in fields.items():
        data[f"images-{index}-{name}"] = value
    return client.post(step_url(cat, 3), data=data)


def _versions(app) -> dict[str, Version]:
    return {v.name: v for v in db.session.scalars(select(Version))}


def test_step_3_refuses_a_tag_another_version_recorded(
    app, client, auth, registry, second_registry
):
    tag = f"t{time.monotonic_ns()}"
    push_demo_image(registry.address, "shop/cart", tag, seed="cart-1")
    cat = make_version_catalog(
        app,
        second_registry.address,
        {"cart": {"cart": f"{registry.address}/shop/cart:{tag}"}},
        namespace=f"imm{tag}",
    )
    auth.login("tester")
    assert create_through_form(client, cat, "v1").status_code == 302
    run_queued_jobs(app)
    first, _ = registry_digest(second_registry.address, f"imm{tag}/cart", "v1")
    # The source moves on; a second version tries to reuse the tag v1.
    push_demo_image(registry.address, "shop/cart", tag, seed="cart-2")
    page = _to_step_3(client, cat, "v2")
    refused = _create_with(client, cat, page, tag="v1")
    assert refused.status_code == 422
    assert (
        f"{second_registry.address}/imm{tag}/cart:v1 is already the target of version v1 of Shop"
        in text(refused)
    )
    run_queued_jobs(app)
    with app.app_context():
        assert set(_versions(app)) == {"v1"}
    assert registry_digest(second_registry.address, f"imm{tag}/cart", "v1")[0] == first


def test_step_3_refuses_a_repository_outside_the_registry_namespace(
    app, client, auth, registry, second_registry
):
    tag = f"t{time.monotonic_ns()}"
    push_demo_image(registry.address, "shop/cart", tag, seed="cart")
    cat = make_version_catalog(
        app,
        second_registry.address,
        {"cart": {"cart": f"{registry.address}/shop/cart:{tag}"}},
        namespace=f"ns{tag}",
    )
    auth.login("tester")
    page = _to_step_3(client, cat, "v1")
    refused = _create_with(
        client, cat, page, repository=f"{second_registry.address}/elsewhere/cart"
    )
    assert refused.status_code == 422
    assert "must lie under the registry&#39;s namespace" in text(refused)
    with app.app_context():
        assert _versions(app) == {}


def test_the_job_refuses_a_tag_the_registry_has_with_another_digest(
    app, client, auth, registry, second_registry
):
    tag = f"t{time.monotonic_ns()}"
    push_demo_image(registry.address, "shop/cart", tag, seed="cart")
    push_demo_image(registry.address, "shop/web", tag, seed="web")
    cat = make_version_catalog(
        app,
        second_registry.address,
        {
            "cart": {"cart": f"{registry.address}/shop/cart:{tag}"},
            "web": {"web": f"{registry.address}/shop/web:{tag}"},
        },
        namespace=f"job{tag}",
    )
    # Production already runs job<tag>/cart:v1, pushed without Slipway.
    production = push_demo_image(second_registry.address, f"job{tag}/cart", "v1", seed="prod")
    auth.login("tester")
    location = create_through_form(client, cat, "v1").headers["Location"]
    run_queued_jobs(app)
    with app.app_context():
        version = _versions(app)["v1"]
        assert version.status == VersionStatus.FAILED
        images = {i.container: i for i in version.images}
        assert images["cart"].status == ImageStatus.FAILED
        assert production in images["cart"].error and "tags are immutable" in images["cart"].error
        assert images["web"].status == ImageStatus.FAILED
    assert production in text(client.get(location))
    assert registry_digest(second_registry.address, f"job{tag}/cart", "v1")[0] == production
    # Nothing else was copied either.
    web = requests.head(
        f"http://{second_registry.address}/v2/job{tag}/web/manifests/v1", timeout=10
    )
    assert web.status_code == 404


def test_a_tag_that_already_holds_the_image_is_skipped_without_copying(
    app, client, auth, registry, second_registry
):
    tag = f"t{time.monotonic_ns()}"
    digest = push_demo_image(registry.address, "shop/cart", tag, seed="same")
    same = push_demo_image(second_registry.address, f"same{tag}/cart", "v1", seed="same")
    assert same == digest
    proxy = SourceProxy(registry.address)
    try:
        cat = make_version_catalog(
            app,
            second_registry.address,
            {"cart": {"cart": f"{proxy.address}/shop/cart:{tag}"}},
            namespace=f"same{tag}",
        )
        auth.login("tester")
        assert create_through_form(client, cat, "v1").status_code == 302
        run_queued_jobs(app)
        with app.app_context():
            version = _versions(app)["v1"]
            assert version.status == VersionStatus.SUCCESS, version.error
            assert version.images[0].target_digest == digest
        assert proxy.paths and not [p for p in proxy.paths if "/blobs/" in p], proxy.paths
    finally:
        proxy.stop()


def test_step_3_asks_the_registry_through_a_job_and_refuses_a_taken_tag(
    app, client, auth, registry, second_registry
):
    tag = f"t{time.monotonic_ns()}"
    mine = push_demo_image(registry.address, "shop/cart", tag, seed="mine")
    same = push_demo_image(registry.address, "shop/web", tag, seed="same")
    cat = make_version_catalog(
        app,
        second_registry.address,
        {
            "cart": {"cart": f"{registry.address}/shop/cart:{tag}"},
            "web": {"web": f"{registry.address}/shop/web:{tag}"},
        },
        namespace=f"look{tag}",
    )
    production = push_demo_image(second_registry.address, f"look{tag}/cart", "v1", seed="prod")
    assert push_demo_image(second_registry.address, f"look{tag}/web", "v1", seed="same") == same
    auth.login("tester")
    page = _to_step_3(client, cat, "v1")
    assert "Checking the target tags in the registry" in page
    lookup_url = f"/versions/projects/{cat.project_id}/new/target-tags"
    pending = client.get(lookup_url)
    assert pending.status_code == 200 and 'hx-trigger="every 1s"' in text(pending)
    run_queued_jobs(app)  # the look-up job asks the registry
    found = client.get(lookup_url)
    assert found.status_code == 286
    cart_ref = f"{second_registry.address}/look{tag}/cart:v1"
    assert f'data-taken="{cart_ref}"' in text(found)
    assert production in text(found) and mine in text(found)
    assert "/web:v1" not in text(found)  # the same image already there is not "taken"
    refused = client.post(
        step_url(cat, 3), data=images_post(page, "create", registry_id=cat.registry_id)
    )
    assert refused.status_code == 422
    assert f"{cart_ref} already exists in the registry with digest {production}" in text(refused)
    run_queued_jobs(app)
    with app.app_context():
        assert _versions(app) == {}
    assert registry_digest(second_registry.address, f"look{tag}/cart", "v1")[0] == production
