"""In Chromium at 1280 px: no horizontal scroll on the version, release and step-3 pages;
the release pipeline updates live."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in
from tests.browser.test_releases_browser import _setup as release_setup
from tests.webapp.version_fixtures import make_version_catalog
from webapp.extensions import db
from webapp.models import (
    ImageStatus,
    Project,
    Version,
    VersionImage,
    VersionService,
    VersionStatus,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

BUILD = "2026.11.30-build.48213-gabcdef0"
WIDE = "registry.internal.example.com:5000/platform/very-long-team-name/checkout-service-backend"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def fits(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def overflowing(page) -> list[str]:
    """The elements wider than the viewport, to say what broke the layout."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(0, 5)
            .map(e => `${e.tagName}.${e.className} right=${e.getBoundingClientRect().right}: `
                      + e.textContent.slice(0, 60))"""
    )


def test_the_pipeline_updates_live_and_the_release_page_fits(
    live_app, browser, page, sandbox_cluster, registry
):
    base = live_app.config["LIVE_URL"]
    workflow_id, _, _ = release_setup(live_app, sandbox_cluster, registry)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base, "release")
    page.goto(f"{base}/releases/new/{workflow_id}")
    page.get_by_label("Version").select_option(label="v2.0")
    page.get_by_role("button", name="Start release").click()
    page.get_by_role("heading", name=re.compile(r"Release #\d+: v2.0 to prod")).wait_for()
    deploy = page.locator("#pipeline-stage-1")
    approval = page.locator("#pipeline-stage-2")
    # Without a reload: the deploy passes with its progress, the approval starts waiting.
    page.locator('#pipeline-stage-1[data-status="passed"]').wait_for(timeout=30000)
    assert "1 of 1 service done" in deploy.inner_text()
    assert deploy.locator("progress").get_attribute("value") == "1"
    page.locator('#pipeline-stage-2[data-status="waiting_approval"]').wait_for(timeout=30000)
    assert "waiting approval" in approval.inner_text()
    # Side by side: the second stage is to the right of the first, on the same row.
    first, second = deploy.bounding_box(), approval.bounding_box()
    assert second["x"] > first["x"] + first["width"] and abs(second["y"] - first["y"]) < 5
    # Status icons are SVG, not characters.
    assert deploy.locator(".release-status svg.icon").count() == 1
    assert fits(page), overflowing(page)


def test_version_and_step_3_pages_fit_at_1280(live_app, browser, page, registry):
    base = live_app.config["LIVE_URL"]
    cat = make_version_catalog(
        live_app,
        registry.address,
        {
            "checkout-service-backend": {
                "checkout-service-backend-main-container": f"{WIDE}:{BUILD}",
                "sidecar-proxy-with-a-long-name": f"{WIDE}-proxy@{DIGEST}",
            }
        },
        namespace="platform/very-long-team-name/production-mirror",
    )
    with live_app.app_context():
        project = db.session.get(Project, cat.project_id)
        version = Version(
            project=project, name="2026.11.30-build.48213", status=VersionStatus.SUCCESS
        )
        service = VersionService(name="checkout-service-backend", yaml="kind: Deployment\n")
        for container in (
            "checkout-service-backend-main-container",
            "sidecar-proxy-with-a-long-name",
        ):
            image = VersionImage(
                container=container,
                source_ref=f"{WIDE}:{BUILD}",
                source_digest=DIGEST,
                target_ref=f"{registry.address}/platform/very-long-team-name/production-mirror/"
                f"checkout-service-backend:2026.11.30-build.48213",
                target_digest=DIGEST,
                status=ImageStatus.DONE,
            )
            service.images.append(image)
            version.images.append(image)
        version.services.append(service)
        db.session.add(version)
        db.session.commit()
        version_id = version.id
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base, "tester")
    page.goto(f"{base}/versions/{version_id}")
    page.get_by_role("heading", name="Version 2026.11.30-build.48213").wait_for()
    assert fits(page), overflowing(page)

    page.goto(f"{base}/versions/projects/{cat.project_id}/new/1")
    page.get_by_label("Version name").fill("2026.12.01-build.48300")
    page.get_by_role("button", name="Next: environment and services").click()
    page.get_by_role("link", name="1. Basic information").wait_for()
    page.wait_for_load_state("load")  # htmx is set up: choosing the environment loads its services
    page.get_by_label("Source environment").select_option(label="dev")
    page.get_by_label("checkout-service-backend").wait_for()
    # With JavaScript the no-JS fallback buttons are hidden: htmx does their work.
    show = page.locator('button[value="environment"]')  # "Show this environment's services"
    assert show.count() == 1 and not show.is_visible()
    page.get_by_role("button", name="Next: images").click()
    page.get_by_label("Target registry").wait_for()
    page.get_by_label("Target registry").select_option(index=1)
    page.get_by_label(re.compile("Target repository of checkout-service-backend/")).first.wait_for()
    fallback = page.locator('button[value="registry"]')  # "Use this registry's default …"
    assert fallback.count() == 1 and not fallback.is_visible()
    assert fits(page), overflowing(page)
