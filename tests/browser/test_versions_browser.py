"""A test engineer creates a version through the three steps and watches it reach success."""

import time

import pytest
from playwright.sync_api import expect

from sandbox.images import push_demo_image
from tests.browser.conftest import sign_in
from tests.jobs.test_version_job import SourceProxy
from tests.webapp.version_fixtures import make_version_catalog

pytestmark = pytest.mark.browser


def settled(page) -> None:
    """Wait until htmx has processed what it swapped in (it does so in its settle step)."""
    page.wait_for_function("() => !document.querySelector('.htmx-added, .htmx-settling')")


@pytest.fixture
def slow_source(registry):
    """The source registry behind a proxy that sends blobs at 2 MiB/s: copies take seconds."""
    proxy = SourceProxy(registry.address, bytes_per_second=2 << 20)
    yield proxy
    proxy.stop()


@pytest.mark.timeout(120)
def test_create_a_version_and_watch_it_succeed(
    live_app, page, registry, second_registry, slow_source
):
    tag = f"b{time.monotonic_ns()}"
    push_demo_image(registry.address, "shop/cart", tag, seed="cart", layer_sizes=(3 << 20,))
    push_demo_image(
        registry.address, "shop/web", tag, platforms=("linux/amd64", "linux/arm64"), seed="web"
    )
    make_version_catalog(
        live_app,
        second_registry.address,
        {
            "cart": {"cart": f"{slow_source.address}/shop/cart:{tag}"},
            "web": {"web": f"{slow_source.address}/shop/web:{tag}"},
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

    page.get_by_role("heading", name="New version of Shop").wait_for()
    settled(page)
    page.get_by_label("Version name").press_sequentially("v1.0", delay=50)
    page.locator("#name-check").get_by_text("is free").wait_for()
    page.get_by_label("Labels").fill("qa, sprint-3")
    page.get_by_role("button", name="Next: environment and services").click()

    page.get_by_role("link", name="1. Basic information").wait_for()
    settled(page)
    page.get_by_label("Source environment").select_option(label="dev")
    page.get_by_label("web").wait_for()  # htmx brought the environment's services
    assert page.get_by_label("cart").is_checked() and page.get_by_label("web").is_checked()
    page.get_by_role("button", name="Next: images").click()

    page.get_by_label("Target registry").wait_for()
    settled(page)
    registry_label = f"prod-registry ({second_registry.address}/browser{tag})"
    page.get_by_label("Target registry").select_option(label=registry_label)
    # htmx swaps in the image rows with the registry's default repositories.
    expect(page.get_by_label("Target repository of web/web")).to_have_value(
        f"{second_registry.address}/browser{tag}/web"
    )
    page.get_by_role("button", name="Create version v1.0").click()

    page.get_by_role("heading", name="Version v1.0").wait_for()
    progress = page.locator("#version-progress")
    progress.get_by_text("copying").first.wait_for(timeout=20000)
    progress.locator(".version-status").get_by_text("success").wait_for(timeout=45000)
    assert progress.inner_text().count("sha256:") == 2

    page.get_by_text("web.yaml").click()
    yaml = page.locator("details", has_text="web.yaml").locator(".highlight")
    yaml.wait_for()
    assert f"image: {second_registry.address}/browser{tag}/web:v1.0" in yaml.inner_text()


@pytest.mark.timeout(120)
def test_the_form_works_with_javascript_off(live_app, browser, registry, second_registry):
    tag = f"n{time.monotonic_ns()}"
    push_demo_image(registry.address, "shop/cart", tag, seed="cart")
    make_version_catalog(
        live_app,
        second_registry.address,
        {"cart": {"cart": f"{registry.address}/shop/cart:{tag}"}},
        namespace=f"nojs{tag}",
    )
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        base = live_app.config["LIVE_URL"]
        sign_in(page, base, "tester")
        page.goto(f"{base}/catalog/projects/")
        page.get_by_role("link", name="Shop").click()
        page.get_by_role("link", name="Versions of Shop").click()
        page.get_by_role("button", name="Create version").click()
        page.get_by_label("Version name").fill("1.0.0-rc1")
        page.get_by_role("button", name="Next: environment and services").click()
        page.get_by_label("Source environment").select_option(label="dev")
        page.get_by_role("button", name="Show this environment's services").click()
        assert page.get_by_label("cart").is_checked()
        page.get_by_role("button", name="Next: images").click()
        page.get_by_label("Target registry").select_option(
            label=f"prod-registry ({second_registry.address}/nojs{tag})"
        )
        page.get_by_role("button", name="Use this registry's default repositories").click()
        assert page.get_by_label("Target repository of cart/cart").input_value() == (
            f"{second_registry.address}/nojs{tag}/cart"
        )
        page.get_by_role("button", name="Create version 1.0.0-rc1").click()
        heading = page.get_by_role("heading", name="Version 1.0.0-rc1")
        deadline = time.monotonic() + 45
        while "success" not in heading.inner_text():  # no polling without JS: reload
            assert time.monotonic() < deadline, heading.inner_text()
            time.sleep(0.5)
            page.reload()
        assert f"{second_registry.address}/nojs{tag}/cart:1.0.0-rc1@sha256:" in page.content()
    finally:
        context.close()


@pytest.mark.timeout(120)
def test_the_version_page_updates_its_status_and_image_rows_without_reload(
    live_app, page, registry, second_registry, slow_source
):
    tag = f"l{time.monotonic_ns()}"
    push_demo_image(registry.address, "shop/cart", tag, seed="live", layer_sizes=(3 << 20,))
    make_version_catalog(
        live_app,
        second_registry.address,
        {"cart": {"cart": f"{slow_source.address}/shop/cart:{tag}"}},
        namespace=f"livepage{tag}",
    )
    base = live_app.config["LIVE_URL"]
    sign_in(page, base, "tester")
    page.goto(f"{base}/versions/projects/1/new")
    page.get_by_label("Version name").fill("v9")
    page.get_by_role("button", name="Next: environment and services").click()
    page.get_by_role("link", name="1. Basic information").wait_for()
    settled(page)
    page.get_by_label("Source environment").select_option(label="dev")
    page.get_by_label("cart").wait_for()
    page.get_by_role("button", name="Next: images").click()
    page.get_by_label("Target registry").wait_for()
    settled(page)
    page.get_by_label("Target registry").select_option(
        label=f"prod-registry ({second_registry.address}/livepage{tag})"
    )
    expect(page.get_by_label("Target repository of cart/cart")).to_have_value(
        f"{second_registry.address}/livepage{tag}/cart"
    )
    page.get_by_role("button", name="Create version v9").click()

    heading = page.locator("#version-live h1")
    heading.wait_for()
    page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads
    row = page.locator('#version-live tr[data-image="cart/cart"]')
    expect(row).to_have_attribute("data-status", "copying", timeout=20000)
    expect(row).to_contain_text(" of ")  # bytes copied of the total, while copying
    expect(heading).to_contain_text("success", timeout=45000)
    expect(row).to_have_attribute("data-status", "done")
    expect(row).to_contain_text(f"livepage{tag}/cart:v9@sha256:")
    assert page.evaluate("() => window.sameDocument") is True
    # Polling stopped: the region no longer asks for itself.
    assert page.locator("#version-live").get_attribute("hx-trigger") is None
