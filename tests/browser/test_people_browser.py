"""In Chromium: an admin manages people through the nav; the new user signs in, makes an API
token, and is signed out when the admin deactivates them."""

from __future__ import annotations

import pytest
import requests

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


@pytest.mark.timeout(120)
def test_admin_creates_changes_and_deactivates_a_user(live_app, browser, page):
    base = live_app.config["LIVE_URL"]
    sign_in(page, base, "admin")
    page.get_by_role("link", name="People").click()
    page.get_by_role("heading", name="People").wait_for()
    page.get_by_role("button", name="New user").click()
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Role").select_option(label="Viewer")
    page.get_by_role("button", name="Create user").click()
    page.get_by_role("heading", name="User created: carol").wait_for()
    password = page.locator("#new-password").inner_text()
    assert len(password) >= 16

    page.get_by_role("link", name="Back to carol").click()
    page.get_by_role("combobox", name="Role").select_option(label="Release engineer")
    page.get_by_role("button", name="Change role").click()
    page.get_by_text("carol is now release engineer.").wait_for()

    carol_context = browser.new_context()
    try:
        carol = carol_context.new_page()
        carol.set_default_timeout(15000)
        carol.goto(f"{base}/auth/login")
        carol.get_by_label("Username").fill("carol")
        carol.get_by_label("Password").fill(password)
        carol.get_by_role("button", name="Sign in").click()
        carol.get_by_role("heading", name="Welcome, carol").wait_for()
        assert carol.get_by_role("link", name="People").count() == 0

        carol.get_by_role("link", name="Account").click()
        carol.get_by_label("Name").fill("chat-bot")
        carol.get_by_label("approve: approve and reject releases").check()
        carol.get_by_label("read: read everything the user may read").check()
        carol.get_by_role("button", name="Create token").click()
        carol.get_by_role("heading", name="Token chat-bot created").wait_for()
        secret = carol.locator("#token-secret").inner_text()
        api = f"{base}/api/v1/projects"
        assert requests.get(api, headers={"Authorization": f"Bearer {secret}"}, timeout=10).ok

        page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
        page.get_by_role("link", name="carol", exact=True).click()
        assert page.locator('[data-token="chat-bot"]').inner_text().count("active") == 1
        page.get_by_role("button", name="Deactivate carol").click()
        page.get_by_text("carol is deactivated: signed out, tokens revoked.").wait_for()
        assert page.locator("#user-status").inner_text() == "deactivated"

        carol.reload()
        carol.get_by_role("button", name="Sign in").wait_for()  # back at the sign-in page
        gone = requests.get(api, headers={"Authorization": f"Bearer {secret}"}, timeout=10)
        assert gone.status_code == 401
    finally:
        carol_context.close()

    page.get_by_role("link", name="Audit").click()
    page.get_by_role("heading", name="Audit events").wait_for()
    audit = page.locator("main").inner_text()
    for action in ("deactivate", "change_role", "create_token", "create"):
        assert action in audit
