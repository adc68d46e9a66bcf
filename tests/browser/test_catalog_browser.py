"""A person signs in, adds a registry and sees its connection test succeed."""

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_add_registry_and_test_its_connection(live_app, page, registry):
    base = live_app.config["LIVE_URL"]
    sign_in(page, base, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Registries").click()
    page.get_by_role("button", name="Add registry").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("local")
    page.get_by_role("textbox", name="Address").fill(registry.address)
    page.get_by_label("Plain HTTP (no TLS)").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="Registry local").wait_for()
    page.get_by_role("button", name="Test connection").click()
    status = page.locator(".job-status")
    status.get_by_text("succeeded").wait_for(timeout=20000)
    assert f"registry {registry.address} answered over HTTP" in status.inner_text()


def test_bad_input_shows_the_message_beside_the_field(live_app, page):
    base = live_app.config["LIVE_URL"]
    sign_in(page, base, "admin")
    page.goto(f"{base}/catalog/registries/new")
    page.get_by_role("textbox", name="Name", exact=True).fill("Bad Name")
    page.get_by_role("textbox", name="Address").fill("https://example.com/path")
    page.get_by_role("button", name="Save").click()
    name = page.get_by_role("textbox", name="Name", exact=True)
    assert name.get_attribute("aria-invalid") == "true"
    assert "Lower-case letters" in page.locator("#name-error").inner_text()
    assert "without http://" in page.locator("#address-error").inner_text()
