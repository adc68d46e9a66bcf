# ruff: noqa: F811  (pytest fixtures imported from test_releases are parameters here)
"""Compare: real versions side by side, a version against an environment, the approval card."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from sandbox.images import push_demo_image
from tests.helpers import run_queued_jobs
from tests.webapp.test_releases import (  # noqa: F401  (fixtures)
    DEPLOY_IMAGES,
    SERVICES,
    access,
    add_version,
    approval,
    deploy_v1,
    images,
    make_workflow,
    release_row,
    shop,
    start,
)
from tests.webapp.version_fixtures import create_through_form, make_version_catalog, text
from webapp.extensions import db
from webapp.models import DeployedImage, EnvironmentService, ReleaseStatus, Version

pytestmark = pytest.mark.timeout(120)


def _rows(html: str) -> dict[tuple[str, str], str]:
    """(service, container) -> change, from the compare page's image table."""
    return {
        (service, container): change
        for service, container, change in re.findall(
            r'<tr data-service="([^"]+)" data-container="([^"]+)" data-change="([^"]+)">', html
        )
    }


def _version_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Version.id).where(Version.name == name))


def test_two_real_versions_side_by_side_images_by_digest_and_yaml_diff(
    app, client, auth, registry, second_registry
):
    tag = f"t{time.monotonic_ns()}"
    cart_a = push_demo_image(registry.address, "shop/cart", f"{tag}a", seed="cart-a")
    cart_b = push_demo_image(registry.address, "shop/cart", f"{tag}b", seed="cart-b")
    web = push_demo_image(registry.address, "shop/web", tag, seed="web")
    assert cart_a != cart_b
    cat = make_version_catalog(
        app,
        second_registry.address,
        {
            "cart": {"cart": f"{registry.address}/shop/cart:{tag}a"},
            "web": {"web": f"{registry.address}/shop/web:{tag}"},
        },
        namespace=f"cmp{tag}",
    )
    auth.login("tester")
    assert create_through_form(client, cat, "r1").status_code == 302
    run_queued_jobs(app)
    # The test environment moves cart to another build; web stays.
    with app.app_context():
        state = db.session.scalar(
            select(EnvironmentService).where(
                EnvironmentService.service_id == cat.service_ids["cart"]
            )
        )
        image = db.session.scalar(
            select(DeployedImage).where(DeployedImage.environment_service_id == state.id)
        )
        image.image = f"{registry.address}/shop/cart:{tag}b"
        state.rendered_yaml = state.rendered_yaml.replace(f"cart:{tag}a", f"cart:{tag}b")
        db.session.commit()
    assert create_through_form(client, cat, "r2").status_code == 302
    run_queued_jobs(app)
    r1, r2 = _version_id(app, "r1"), _version_id(app, "r2")
    with app.app_context():
        assert {v.status.value for v in db.session.scalars(select(Version))} == {"success"}

    page = client.get(f"/compare/versions/{r1}/{r2}")
    assert page.status_code == 200
    html = text(page)
    # web: another tag, the same digest: the same image. cart: another digest.
    assert _rows(html) == {("cart", "cart"): "changed", ("web", "web"): "same"}
    # Digests are shortened with the full value on hover.
    assert f'title="{cart_a}">@sha256:{cart_a.split(":")[1][:12]}…' in html
    assert f'title="{cart_b}">@sha256:{cart_b.split(":")[1][:12]}…' in html
    assert f'title="{web}"' in html
    # The YAML as a unified diff: the image line removed and added, red and green.
    target = f"{second_registry.address}/cmp{tag}"
    assert f'<span class="diff-del">-        image: {target}/cart:r1</span>' in html
    assert f'<span class="diff-add">+        image: {target}/cart:r2</span>' in html
    assert re.search(r'id="compare-counts">2 changed · 0 added · 0 removed · 0 the same', html)

    # A version compared with itself: nothing changes.
    same = text(client.get(f"/compare/versions/{r2}/{r2}"))
    assert _rows(same) == {("cart", "cart"): "same", ("web", "web"): "same"}
    assert "diff-add" not in same and "0 changed" in same

    # The version page links to the picker; the picker redirects to the comparison.
    version_page = text(client.get(f"/versions/{r2}"))
    assert f"/compare/versions/{r2}" in version_page
    # It records each service's YAML against the environment it came from: the images.
    cart_diff = version_page[version_page.index('id="environment-diff-cart"') :]
    cart_diff = cart_diff[: cart_diff.index("</details>")]
    assert (
        f'<span class="diff-del">-          image: {registry.address}/shop/cart:{tag}b' in cart_diff
    )
    assert f'<span class="diff-add">+        image: {target}/cart:r2</span>' in cart_diff
    assert 'id="version-globals"' not in version_page  # no global block in K8s projects
    picked = client.get(f"/compare/versions/{r2}?other=v{r1}")
    assert picked.status_code == 302 and picked.headers["Location"].endswith(
        f"/compare/versions/{r1}/{r2}"
    )
    assert client.get(f"/compare/versions/{r2}?other=v999999").status_code == 422
    assert client.get(f"/compare/versions/{r2}?other=zz").status_code == 422


def test_removed_and_added_services_between_versions(app, client, auth, shop, images):
    only_cart = add_version(app, shop.project_id, "cart-only", {"cart": images[("cart", "2.0")]})
    auth.login("viewer")
    html = text(client.get(f"/compare/versions/{shop.versions['1.0']}/{only_cart}"))
    assert _rows(html) == {
        ("api", "api"): "removed",
        ("cart", "cart"): "changed",
        ("web", "web"): "removed",
    }
    back = text(client.get(f"/compare/versions/{only_cart}/{shop.versions['1.0']}"))
    assert _rows(back)[("api", "api")] == "added"


def _sync(app, client, auth, shop) -> None:
    auth.logout()
    auth.login("release")
    assert client.post(f"/catalog/environments/{shop.environment_id}/sync").status_code == 302
    run_queued_jobs(app)


def test_version_against_environment_and_the_approval_card(app, client, auth, shop, access, images):
    deploy_v1(access, shop, images)
    _sync(app, client, auth, shop)
    v2 = shop.versions["2.0"]
    env_page = text(client.get(f"/catalog/environments/{shop.environment_id}"))
    assert 'id="compare-environment"' in env_page
    picked = client.get(f"/compare/environments/{shop.environment_id}?version_id={v2}")
    assert picked.headers["Location"].endswith(
        f"/compare/versions/{v2}/environments/{shop.environment_id}"
    )
    html = text(client.get(picked.headers["Location"]))
    assert _rows(html) == {(name, name): "changed" for name in SERVICES}
    assert "No configuration is recorded" in html  # the sync recorded images only
    # The version already running there: nothing to change.
    v1_html = text(
        client.get(f"/compare/versions/{shop.versions['1.0']}/environments/{shop.environment_id}")
    )
    assert _rows(v1_html) == {(name, name): "same" for name in SERVICES}

    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    release_id = start(client, auth, workflow_id, v2)
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL
    auth.logout()
    auth.login("approver1")
    page = text(client.get(f"/releases/{release_id}"))
    card = page[page.index('id="approval-changes"') :]
    card = card[: card.index("</section>")]
    for name in SERVICES:
        assert re.search(
            rf'data-service="{name}" data-change="changed">.*?'
            rf"<code>{name}</code>: <code class=\"image-ref\">{re.escape(images[(name, '1.0')])}"
            rf'</code> → <code class="image-ref">{re.escape(images[(name, "2.0")])}</code>',
            card,
            re.S,
        ), name
    assert f'href="/compare/versions/{v2}/environments/{shop.environment_id}">Full diff' in card
    assert f"/versions/{v2}" in page  # the release links to its version


def test_approval_card_after_the_deploy_compares_with_the_version_that_ran_before(
    app, client, auth, shop, access, images
):
    deploy_v1(access, shop, images)
    first = start(
        client, auth, make_workflow(app, shop, [DEPLOY_IMAGES], name="d"), shop.versions["1.0"]
    )
    run_queued_jobs(app)
    assert release_row(app, first).status is ReleaseStatus.PASSED
    crash = add_version(app, shop.project_id, "v2-cart", {"cart": images[("cart", "2.0")]})
    workflow_id = make_workflow(app, shop, [DEPLOY_IMAGES, approval(app, needed=1)], name="da")
    release_id = start(client, auth, workflow_id, crash)
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL
    auth.logout()
    auth.login("approver1")
    page = text(client.get(f"/releases/{release_id}"))
    card = page[page.index('id="approval-changes"') :]
    card = card[: card.index("</section>")]
    assert f"Against version v1.0 (release #{first}, ran before)" in card
    assert 'data-service="cart" data-change="changed"' in card
    assert 'data-service="api" data-change="removed"' in card
    assert f'href="/compare/versions/{shop.versions["1.0"]}/{crash}">Full diff' in card
