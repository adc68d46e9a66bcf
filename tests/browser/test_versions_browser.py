"""A test engineer creates a version through the three steps and watches it reach success."""

import time

import pytest
from playwright.sync_api import expect

from sandbox.images import push_demo_image
from tests.browser.conftest import sign_in
from tests.webapp.version_fixtures import make_version_catalog

pytestmark = pytest.mark.browser


@pytest.mark.timeout(120)
def test_create_a_version_and_watch_it_succeed(live_app, page, registry, second_registry):
    tag = f"b{time.monotonic_ns()}"
    push_demo_image(registry.address, "shop/cart", tag, seed="cart")
    push_demo_image(
        registry.address, "shop/web", tag, platforms=("linux/amd64", "linux/arm64"), seed="web"
    )
    make_version_catalog(
        live_app,
        second_registry.address,
        {
            "cart": {"cart": f"{registry.address}/shop/cart:{tag}"},
            "web": {"web": f"{registry.address}/shop/web:{tag}"},
        },
        order={"cart": 1, "web": 2},
        namespace=f"browser{tag}",
    )
    base = live_app.config["LIVE_URL"]
    sign_in(page, base, "tester")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="Shop").click()
    page.get_by_role("link", name="Versions of Shop").click()
    page.get_by_role("button", name="Create version").click()

    page.get_by_label("Version name").fill("v1.0")
    page.locator("#name-check").get_by_text("is free").wait_for()
    page.get_by_label("Labels").fill("qa, sprint-3")
    page.get_by_role("button", name="Next: environment and services").click()

    page.get_by_label("Source environment").select_option(label="dev")
    page.get_by_label("web").wait_for()  # htmx brought the environment's services
    assert page.get_by_label("cart").is_checked() and page.get_by_label("web").is_checked()
    page.get_by_role("button", name="Next: images").click()

    page.get_by_label("Target registry").select_option(
        label=f"prod-registry ({second_registry.address}/browser{tag})"
    )
    # htmx swaps in the image rows with the registry's default repositories.
    expect(page.get_by_label("Target repository of web/web")).to_have_value(
        f"{second_registry.address}/browser{tag}/web"
    )
    page.get_by_role("button", name="Create version v1.0").click()

    page.get_by_role("heading", name="Version v1.0").wait_for()
    progress = page.locator("#version-progress")
    progress.locator(".version-status").get_by_text("success").wait_for(timeout=45000)
    assert "sha256:" in progress.inner_text()

    page.get_by_text("web.yaml").click()
    yaml = page.locator("details", has_text="web.yaml").locator(".highlight")
    yaml.wait_for()
    assert f"image: {second_registry.address}/browser{tag}/web:v1.0" in yaml.inner_text()
