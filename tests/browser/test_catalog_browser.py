"""A person signs in, adds a registry and sees its connection test succeed."""

import pytest
from playwright.sync_api import expect

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
    expect(status).to_contain_text(f"registry {registry.address} answered over HTTP", timeout=20000)
    expect(status).to_contain_text("succeeded")


def test_bad_input_shows_the_message_beside_the_field(live_app, page):
    base = live_app.config["LIVE_URL"]
    sign_in(page, base, "admin")
    page.goto(f"{base}/catalog/registries/new")
    page.get_by_role("textbox", name="Name", exact=True).fill("Bad Name")
    page.get_by_role("textbox", name="Address").fill("https://example.com/path")
    page.get_by_role("button", name="Save").click()
    name = page.get_by_role("textbox", name="Name", exact=True)
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name-error")).to_contain_text("Lower-case letters")
    expect(page.locator("#address-error")).to_contain_text("without http://")
