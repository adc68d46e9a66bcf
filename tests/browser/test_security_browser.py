"""Under the Content-Security-Policy: htmx works, confirm prompts come from static JS."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from webapp.extensions import db
from webapp.models import Registry

pytestmark = pytest.mark.browser


def test_delete_asks_first_and_nothing_breaks_the_policy(live_app, page):
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    with live_app.app_context():
        item = Registry(name="doomed", address="registry.example.com")
        db.session.add(item)
        db.session.commit()
        registry_id = item.id
    base = live_app.config["LIVE_URL"]
    sign_in(page, base, "admin")
    page.goto(f"{base}/catalog/registries/{registry_id}")
    asked = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Registry doomed")).to_be_visible()
    assert asked == ["Delete registry doomed?"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Registry doomed deleted.")).to_be_visible()
    assert violations == []
