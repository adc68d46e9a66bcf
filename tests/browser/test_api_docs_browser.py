"""In Chromium: the API docs page renders the served OpenAPI document from vendored files."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


@pytest.mark.timeout(60)
def test_the_docs_page_lists_the_operations(live_app, page):
    base = live_app.config["LIVE_URL"]
    outside = []
    page.on(
        "request",
        lambda request: outside.append(request.url) if not request.url.startswith(base) else None,
    )
    page.goto(f"{base}/api/v1/docs")
    page.get_by_text("Slipway API").first.wait_for()
    page.get_by_text("Create a version from an environment").wait_for()
    page.get_by_text("Approve the stage the release waits at").wait_for()
    assert [url for url in outside if not url.startswith("data:")] == []  # no CDN
