"""The version page's live region: status, images, jobs update while creating; polling ends."""

from __future__ import annotations

import re
import time

from sandbox.images import push_demo_image
from tests.helpers import run_queued_jobs
from tests.webapp.version_fixtures import create_through_form, make_version_catalog, text


def test_the_live_region_polls_while_creating_and_answers_286_when_done(
    app, client, auth, registry, second_registry
):
    tag = f"t{time.monotonic_ns()}"
    digest = push_demo_image(registry.address, "shop/cart", tag, seed="live")
    cat = make_version_catalog(
        app,
        second_registry.address,
        {"cart": {"cart": f"{registry.address}/shop/cart:{tag}"}},
        namespace=f"live{tag}",
    )
    auth.login("tester")
    location = create_through_form(client, cat, "v1").headers["Location"]
    page = text(client.get(location))
    assert 'id="version-live"' in page and f'hx-get="{location}/live"' in page
    creating = client.get(location + "/live")
    assert creating.status_code == 200
    html = text(creating)
    assert html.lstrip().startswith('<div id="version-live"')
    assert 'hx-trigger="every 1s"' in html
    assert re.search(r"<h1>Version v1 <[^>]*>creating<", html)
    assert 'data-image="cart/cart" data-status="queued"' in html
    run_queued_jobs(app)
    done = client.get(location + "/live")
    assert done.status_code == 286
    html = text(done)
    assert "hx-trigger" not in html
    assert re.search(r"<h1>Version v1 <[^>]*>success<", html)
    assert 'data-image="cart/cart" data-status="done"' in html
    assert f"/live{tag}/cart:v1@{digest}" in html
    assert "Show the finished version" in html  # the progress panel stays, finished
    jobs = html[html.index('id="jobs-heading"') :]
    assert re.search(r'<tr><td><a href="[^"]+/\d+">#\d+</a></td><td>[^<]*<[^>]*>succeeded', jobs)
