"""Helm services in the version form: image paths (detected or edited) and merged values."""

from __future__ import annotations

import html

import pytest
import yaml

from tests.webapp.helm_version_fixtures import (
    make_helm_catalog,
    step_2_data,
    step_url,
    to_step_2,
    values_rows,
)
from tests.webapp.version_fixtures import image_rows, text
from webapp.extensions import db
from webapp.models import EnvironmentService, Service

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cat(app, registry, second_registry):
    return make_helm_catalog(app, registry.address, second_registry.address, {"api": {}})


def test_the_edit_form_shows_the_detected_paths_and_refuses_bad_ones(app, client, auth, cat):
    auth.login("admin")
    service_id = cat.service_ids["api"]
    shown = text(client.get(f"/catalog/services/{service_id}"))
    assert "<code>image.repository+image.tag</code> <small>(detected)</small>" in shown
    page = text(client.get(f"/catalog/services/{service_id}/edit"))
    assert "image.repository+image.tag" in page
    response = client.post(
        f"/catalog/services/{service_id}/edit",
        data={"name": "api", "order_group": 1, "image_paths": "image..repository"},
    )
    assert response.status_code == 422
    assert "not a usable values key path" in html.unescape(text(response))
    with app.app_context():
        assert db.session.get(Service, service_id).image_paths is None


def test_edited_paths_decide_which_images_a_version_copies(app, client, auth, cat, registry):
    service_id = cat.service_ids["api"]
    with app.app_context():
        deployed = db.session.query(EnvironmentService).one()
        values = yaml.safe_load(deployed.values_yaml)
        values["sidecar"] = {"image": f"{registry.address}/analytics/api:1.0"}
        deployed.values_yaml = yaml.safe_dump(values, sort_keys=False)
        db.session.commit()
    auth.login("admin")
    response = client.post(
        f"/catalog/services/{service_id}/edit",
        data={"name": "api", "order_group": 1, "image_paths": "sidecar.image\n"},
    )
    assert response.status_code == 302, text(response)
    with app.app_context():
        assert db.session.get(Service, service_id).image_paths == "sidecar.image"
    shown = text(client.get(f"/catalog/services/{service_id}"))
    assert "<code>sidecar.image</code>" in shown and "(detected)" not in shown

    html_page = to_step_2(client, cat, "paths-1")
    assert (
        client.post(step_url(cat, 2), data=step_2_data(cat, html_page, "next")).status_code == 302
    )
    page = client.post(
        step_url(cat, 3), data={"registry_id": cat.registry_id, "action": "registry"}
    )
    assert list(image_rows(text(page))) == [f"{service_id}/sidecar.image"]


def test_the_editor_holds_the_chart_defaults_with_the_environment_values_over_them(
    app, client, auth, cat
):
    with app.app_context():
        deployed = db.session.query(EnvironmentService).one()
        deployed.values_yaml = "replicaCount: 3\nservice:\n  port: 9090\n  name: web\nextra: null\n"
        db.session.get(Service, deployed.service_id).default_values += "extra: 1\n"
        db.session.commit()
        service_id = str(deployed.service_id)
    auth.login("tester")
    values = yaml.safe_load(values_rows(to_step_2(client, cat, "merged-1"))[service_id])
    assert values["replicaCount"] == 3
    assert values["service"] == {"port": 9090, "name": "web"}
    assert values["image"]["tag"] == "1.0"  # from the chart's defaults
    assert "extra" not in values  # null removes a default, as in Helm


def test_step_3_warns_when_the_catalog_chart_is_not_the_environment_s(app, client, auth, cat):
    with app.app_context():
        deployed = db.session.query(EnvironmentService).one()
        deployed.chart_version = "0.0.9"
        db.session.commit()
    auth.login("tester")
    html_page = to_step_2(client, cat, "older-1")
    assert (
        client.post(step_url(cat, 2), data=step_2_data(cat, html_page, "next")).status_code == 302
    )
    page = text(client.get(step_url(cat, 3)))
    assert "0.0.9" in page
    assert "The catalog holds chart 0.1.0: that one is packaged." in page
