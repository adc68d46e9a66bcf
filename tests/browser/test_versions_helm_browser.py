"""A test engineer creates a Helm version with a global variable applied and downloads a chart."""

import io
import tarfile
import time

import pytest
import yaml
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_versions_browser import settled
from tests.webapp.helm_version_fixtures import make_helm_catalog

pytestmark = pytest.mark.browser


@pytest.mark.timeout(120)
def test_create_a_helm_version_with_a_global_variable_and_download_a_chart(
    live_app, page, registry, second_registry
):
    namespace = f"helmb{time.monotonic_ns()}"
    cat = make_helm_catalog(
        live_app,
        registry.address,
        second_registry.address,
        {"api": {"extra": {"logLevel": "info"}}, "worker": {"extra": {"logLevel": "info"}}},
        namespace=namespace,
    )
    base = live_app.config["LIVE_URL"]
    sign_in(page, base, "tester")
    page.goto(f"{base}/versions/projects/{cat.project_id}/")
    page.get_by_role("button", name="Create version").click()

    page.get_by_role("heading", name="New version of Analytics").wait_for()
    settled(page)
    page.get_by_label("Version name").fill("2026.11.2")
    page.get_by_role("button", name="Next: environment and services").click()

    page.get_by_role("link", name="1. Basic information").wait_for()
    settled(page)
    page.get_by_label("Source environment").select_option(label="dev")
    api_values = page.get_by_label("values.yaml of api")
    api_values.wait_for()  # htmx brought the services and their values editors
    settled(page)
    expect(api_values).to_contain_text("logLevel: info")
    page.get_by_label("Global variables").fill("logLevel: debug\nnotInAnyService: 1\n")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator("#helm-values .global-effect")).to_contain_text("api: logLevel")
    assert "logLevel: debug" in page.get_by_label("values.yaml of api").input_value()
    assert "logLevel: debug" in page.get_by_label("values.yaml of worker").input_value()
    assert "notInAnyService" not in page.get_by_label("values.yaml of worker").input_value()
    assert "+logLevel: debug" in page.locator(".helm-service", has_text="api").inner_text()
    page.get_by_role("button", name="Next: images").click()

    page.get_by_label("Target registry").wait_for()
    settled(page)
    prefix = f"{second_registry.address}/{namespace}"
    page.get_by_label("Target registry").select_option(label=f"prod-registry ({prefix})")
    expect(page.get_by_label("Target repository of api/image.repository+image.tag")).to_have_value(
        f"{prefix}/api"
    )
    settled(page)
    page.get_by_label("Chart repository").select_option(
        label=f"prod-registry (oci://{prefix}/charts)"
    )
    expect(page.locator('#chart-lookup tr[data-chart="api"]')).to_contain_text("1.0.0")
    page.get_by_role("button", name="Create version 2026.11.2").click()

    page.get_by_role("heading", name="Version 2026.11.2").wait_for()
    progress = page.locator("#version-progress")
    progress.locator(".version-status").get_by_text("success").wait_for(timeout=60000)
    progress.get_by_role("link", name="Show the finished version").click()

    charts = page.locator("#version-charts")
    expect(charts).to_contain_text(f"oci://{prefix}/charts/api:1.0.0")
    with page.expect_download() as info:
        charts.get_by_role("link", name="api-1.0.0.tgz").click()
    download = info.value
    assert download.suggested_filename == "api-1.0.0.tgz"
    archive = open(download.path(), "rb").read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        chart = yaml.safe_load(tar.extractfile("api/Chart.yaml").read())
        values = yaml.safe_load(tar.extractfile("api/values.yaml").read())
    assert (chart["version"], chart["appVersion"]) == ("1.0.0", "2026.11.2")
    assert values["logLevel"] == "debug"
    assert values["image"] == {"repository": f"{prefix}/api", "tag": "2026.11.2"}
