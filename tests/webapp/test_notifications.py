"""Notifications: webhooks to a local receiver, signed, retried on 500, logged per target."""

# ruff: noqa: F811  (pytest fixtures imported from test_releases are parameters here)
from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import re
import socket
import threading
import time

import pytest
from sqlalchemy import select

from sandbox.images import push_demo_image
from tests.helpers import run_queued_jobs
from tests.webapp.test_releases import (  # noqa: F401  (fixtures)
    DEPLOY_IMAGES,
    access,
    approval,
    decide,
    deploy_v1,
    images,
    make_workflow,
    release_row,
    shop,
    start,
)
from tests.webapp.version_fixtures import create_through_form, make_version_catalog, text
from webapp.extensions import db
from webapp.models import NotificationDelivery, ReleaseStatus

pytestmark = pytest.mark.timeout(120)

SECRET = "a-long-shared-signing-secret"
BASE = "https://slipway.example.com"


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers from a script."""

    def __init__(self):
        self.received: list[dict] = []
        self.script: dict[str, list[int]] = {}  # path -> status codes to answer first
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                codes = receiver.script.get(self.path) or []
                code = codes.pop(0) if codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def at(self, path: str) -> list[dict]:
        return [r for r in self.received if r["path"] == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def quick_retries(app):
    app.config["NOTIFICATION_RETRY_DELAYS"] = [0, 0]
    app.config["BASE_URL"] = BASE
    return app


def add_target(client, auth, project_id, **fields):
    auth.logout()
    auth.login("admin")
    data = {"kind": "generic", "enabled": "y", **fields}
    return client.post(f"/notifications/projects/{project_id}/new", data=data)


def deliveries(app) -> list[NotificationDelivery]:
    with app.app_context():
        rows = db.session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id))
        found = list(rows)
        db.session.expunge_all()
        return found


def verified(record: dict) -> dict:
    """The JSON body, after checking its HMAC-SHA256 signature with the shared secret."""
    expected = "sha256=" + hmac.new(SECRET.encode(), record["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(record["headers"]["X-Slipway-Signature"], expected)
    return json.loads(record["body"])


def test_release_events_are_signed_retried_on_500_and_logged(
    app, client, auth, shop, receiver, quick_retries
):
    generic_events = ["release_started", "release_waiting_approval", "release_passed"]
    assert (
        add_target(
            client,
            auth,
            shop.project_id,
            name="ops-hook",
            url=receiver.url + "/generic",
            secret=SECRET,
            events=generic_events,
        ).status_code
        == 302
    )
    assert (
        add_target(
            client,
            auth,
            shop.project_id,
            name="chat",
            kind="slack",
            url=receiver.url + "/slack",
            events=["release_waiting_approval"],
        ).status_code
        == 302
    )
    receiver.script["/generic"] = [500]  # the first delivery fails once
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    release_id = start(client, auth, workflow_id, shop.versions["2.0"])
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.WAITING_APPROVAL

    generic = receiver.at("/generic")
    events = [r["headers"]["X-Slipway-Event"] for r in generic]
    # The retry after the 500 comes behind the waiting message queued meanwhile.
    assert sorted(events) == ["release_started", "release_started", "release_waiting_approval"]
    started, retried = (
        verified(r) for r in generic if r["headers"]["X-Slipway-Event"] == events[0]
    )
    (waiting,) = (verified(r) for r in generic if r["headers"]["X-Slipway-Event"] != events[0])
    assert started == retried and started["release"]["id"] == release_id
    assert started["release"]["version"] == "v2.0" and started["release"]["environment"] == "prod"
    approval_url = f"{BASE}/releases/{release_id}#decision-heading"
    assert waiting["release"]["approval_url"] == approval_url
    assert "is waiting for approval" in waiting["text"]
    # A tampered body does not verify.
    with pytest.raises(AssertionError):
        verified({**generic[0], "body": generic[0]["body"].replace(b"v2.0", b"v9.9")})

    (slack,) = receiver.at("/slack")
    message = json.loads(slack["body"])
    assert f"<{approval_url}|Open the approval>" in message["text"]
    assert message["blocks"][0]["text"]["type"] == "mrkdwn"

    decide(client, auth, release_id, "approver1")
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.PASSED
    assert receiver.at("/generic")[-1]["headers"]["X-Slipway-Event"] == "release_passed"
    assert verified(receiver.at("/generic")[-1])["release"]["status"] == "passed"
    # Running again after the approval is no second "started"; the Slack target wanted one event.
    assert len(receiver.at("/generic")) == 4 and len(receiver.at("/slack")) == 1

    rows = deliveries(app)
    by_event = {(d.event, d.target_id): d for d in rows}
    first = next(d for d in rows if d.event == "release_started")
    assert (first.status.value, first.attempts, first.status_code) == ("delivered", 2, 200)
    assert len(by_event) == 4
    assert all(d.status.value == "delivered" for d in by_event.values())
    auth.logout()
    auth.login("admin")
    page = text(client.get(f"/notifications/targets/{first.target_id}"))
    assert re.search(
        rf'data-delivery="{first.id}" data-status="delivered">.*?'
        r'<td class="status-code">200</td><td class="attempts">2</td>',
        page,
        re.S,
    )
    index = text(client.get(f"/notifications/projects/{shop.project_id}/"))
    assert "3 delivered · 0 pending · 0 failed" in index and SECRET not in index
    assert SECRET not in text(client.get(f"/notifications/targets/{first.target_id}/edit"))
    # Viewers and release engineers do not see the targets.
    auth.logout()
    auth.login("release")
    assert client.get(f"/notifications/projects/{shop.project_id}/").status_code == 403


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_target_never_blocks_the_release(
    app, client, auth, shop, access, images, receiver, quick_retries
):
    deploy_v1(access, shop, images)
    add_target(
        client,
        auth,
        shop.project_id,
        name="gone",
        url=f"http://127.0.0.1:{_free_port()}/hook",
        secret=SECRET,
        events=["release_started", "release_passed"],
    )
    add_target(
        client,
        auth,
        shop.project_id,
        name="refuses",
        url=receiver.url + "/missing",
        secret=SECRET,
        events=["release_passed"],
    )
    receiver.script["/missing"] = [404]
    release_id = start(
        client, auth, make_workflow(app, shop, [DEPLOY_IMAGES]), shop.versions["2.0"]
    )
    started = time.monotonic()
    run_queued_jobs(app)
    assert release_row(app, release_id).status is ReleaseStatus.PASSED
    assert time.monotonic() - started < 60
    rows = deliveries(app)
    gone = [d for d in rows if "No answer" in (d.error or "")]
    assert [(d.event, d.status.value, d.attempts) for d in gone] == [
        ("release_started", "failed", 3),  # the first try and two retries
        ("release_passed", "failed", 3),
    ]
    (refused,) = [d for d in rows if d.status_code == 404]
    assert (refused.status.value, refused.attempts) == ("failed", 1)  # a 404 is not retried


def test_version_created_is_notified(app, client, auth, registry, second_registry, receiver):
    tag = f"n{time.monotonic_ns()}"
    push_demo_image(registry.address, "shop/cart", tag, seed="cart")
    cat = make_version_catalog(
        app,
        second_registry.address,
        {"cart": {"cart": f"{registry.address}/shop/cart:{tag}"}},
        namespace=f"n{tag}",
    )
    add_target(
        client,
        auth,
        cat.project_id,
        name="versions",
        url=receiver.url + "/v",
        secret=SECRET,
        events=["version_created", "version_failed"],
    )
    auth.logout()
    auth.login("tester")
    assert create_through_form(client, cat, "v1").status_code == 302
    run_queued_jobs(app)
    (record,) = receiver.at("/v")
    body = verified(record)
    assert body["event"] == "version_created" and body["version"]["name"] == "v1"
    assert body["text"] == "Version v1 of Shop was created."


@pytest.mark.parametrize(
    "fields,error",
    [
        ({"url": "ftp://example.com/x"}, "An http:// or https:// URL with a host."),
        ({"url": "https://user:pw@example.com/x"}, "Put no credentials in the URL"),
        ({"secret": ""}, "A generic target needs a signing secret."),
        ({"secret": "short"}, "Field must be between 16 and 256 characters long."),
        ({"events": []}, "Pick at least one event."),
        ({"events": ["release_exploded"]}, "is not a valid choice"),
        ({"kind": "smtp"}, "Not a valid choice"),
        ({"name": "Bad Name!"}, "Lower-case letters"),
    ],
)
def test_bad_targets_are_refused_with_422(app, client, auth, shop, fields, error):
    data = {
        "name": "hook",
        "url": "https://hooks.example.com/x",
        "secret": SECRET,
        "events": ["release_passed"],
        **fields,
    }
    response = add_target(client, auth, shop.project_id, **data)
    assert response.status_code == 422
    assert error in text(response)


def test_redis_down_keeps_the_delivery_pending_and_the_reaper_loop_sends_it_later(
    app, client, auth, shop, receiver
):
    from datetime import timedelta

    from webapp.models import Release
    from webapp.models.base import utcnow
    from webapp.notifications.outbox import requeue_stale_deliveries

    add_target(
        client,
        auth,
        shop.project_id,
        name="ops-hook",
        url=receiver.url + "/late",
        secret=SECRET,
        events=["release_started"],
    )
    workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
    redis_url = app.config["REDIS_URL"]
    with app.app_context():
        from webapp.models import Version, Workflow
        from webapp.releases.services import start_release

        release = start_release(
            db.session.get(Workflow, workflow_id),
            db.session.get(Version, shop.versions["2.0"]),
            None,
        )
        # What the executor does first, while Redis is down: the change commits all the same.
        app.config["REDIS_URL"] = f"redis://127.0.0.1:{_free_port()}/0"
        release.move_to(ReleaseStatus.RUNNING)
        db.session.commit()
        app.config["REDIS_URL"] = redis_url
        assert db.session.get(Release, release.id).status is ReleaseStatus.RUNNING
    (delivery,) = deliveries(app)
    assert (delivery.event, delivery.status.value, delivery.attempts) == (
        "release_started",
        "pending",
        0,
    )
    run_queued_jobs(app)
    assert receiver.at("/late") == []  # its job never reached the queue
    with app.app_context():
        assert requeue_stale_deliveries() == []  # not stale yet
        row = db.session.get(NotificationDelivery, delivery.id)
        row.created_at = utcnow() - timedelta(minutes=10)
        db.session.commit()
        assert requeue_stale_deliveries() == [delivery.id]
        assert requeue_stale_deliveries() == []  # pushed on: not twice in a row
    run_queued_jobs(app)
    (record,) = receiver.at("/late")
    assert verified(record)["event"] == "release_started"
    assert deliveries(app)[0].status.value == "delivered"


class MailReceiver:
    """A minimal SMTP server on 127.0.0.1 that keeps each message it is sent."""

    def __init__(self):
        import socketserver

        self.messages: list[dict] = []
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.reply("220 test SMTP")
                mail = {"rcpt": [], "data": b""}
                while line := self.rfile.readline():
                    command = line.decode().strip()
                    verb = command.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 ok")
                    elif verb == "MAIL":
                        mail["from"] = command
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        mail["rcpt"].append(command.split(":", 1)[1].strip(" <>"))
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 go on")
                        while (chunk := self.rfile.readline()) != b".\r\n":
                            mail["data"] += chunk
                        receiver.messages.append(dict(mail))
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_an_email_target_is_sent_over_smtp(app, client, auth, shop, quick_retries):
    import email

    mail = MailReceiver()
    try:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=mail.port, SMTP_FROM="slipway@x.test")
        response = add_target(
            client,
            auth,
            shop.project_id,
            name="release-mail",
            kind="email",
            url="mailto:oncall@example.com, lead@example.com",
            events=["release_waiting_approval"],
        )
        assert response.status_code == 302, text(response)
        workflow_id = make_workflow(app, shop, [approval(app, needed=1)])
        release_id = start(client, auth, workflow_id, shop.versions["2.0"])
        run_queued_jobs(app)
        (sent,) = mail.messages
        assert sent["rcpt"] == ["oncall@example.com", "lead@example.com"]
        message = email.message_from_bytes(sent["data"])
        assert message["Subject"] == (
            f"[Slipway] Release #{release_id} of v2.0 to prod is waiting for approval."
        )
        assert f"{BASE}/releases/{release_id}#decision-heading" in message.get_payload()
        (delivery,) = deliveries(app)
        assert (delivery.status.value, delivery.status_code, delivery.attempts) == (
            "delivered",
            250,
            1,
        )
    finally:
        mail.stop()
    bad = add_target(
        client,
        auth,
        shop.project_id,
        name="m2",
        kind="email",
        url="mailto:nobody",
        events=["release_passed"],
    )
    assert bad.status_code == 422 and "Not an e-mail address: nobody" in text(bad)
