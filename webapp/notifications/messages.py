"""What a delivery sends: the generic JSON body, its signature, the Slack message."""

from __future__ import annotations

import hashlib
import hmac
import json
from email.message import EmailMessage

from webapp.models import TargetKind

SIGNATURE_HEADER = "X-Slipway-Signature"

_SENTENCES = {
    "version_created": "Version {v[name]} of {p[name]} was created.",
    "version_failed": "Version {v[name]} of {p[name]} failed: {v[error]}",
    "release_started": "Release #{r[id]} of {r[version]} to {r[environment]} started.",
    "release_waiting_approval": (
        "Release #{r[id]} of {r[version]} to {r[environment]} is waiting for approval."
    ),
    "release_passed": "Release #{r[id]} of {r[version]} to {r[environment]} passed.",
    "release_failed": "Release #{r[id]} of {r[version]} to {r[environment]} failed: {r[message]}",
    "release_rejected": (
        "Release #{r[id]} of {r[version]} to {r[environment]} was rejected: {r[message]}"
    ),
    "release_timeout": (
        "Release #{r[id]} of {r[version]} to {r[environment]} timed out waiting for approval."
    ),
}


def sentence(payload: dict) -> str:
    """One line a person reads, from the event's payload."""
    template = _SENTENCES.get(payload.get("event"), "{e}")
    return template.format(
        v=payload.get("version") or {},
        r=payload.get("release") or {},
        p=payload.get("project") or {},
        e=payload.get("event"),
    )


def slack_message(payload: dict) -> dict:
    """A Slack incoming-webhook body: ``text`` plus a section block with the link."""
    subject = payload.get("release") or payload.get("version") or {}
    link = subject.get("approval_url") or subject.get("url")
    text = sentence(payload)
    label = "Open the approval" if subject.get("approval_url") else "Open in Slipway"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if link:
        text += f" <{link}|{label}>"
        blocks[0]["text"]["text"] = text
    return {"text": text, "blocks": blocks}


def body_for(kind: TargetKind, payload: dict) -> bytes:
    """The exact bytes posted (and signed)."""
    if kind is TargetKind.SLACK:
        document = slack_message(payload)
    else:
        document = {**payload, "text": sentence(payload)}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the body with the target's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def mail_recipients(url: str) -> list[str]:
    """The addresses of a ``mailto:`` target."""
    return [part.strip() for part in url.removeprefix("mailto:").split(",") if part.strip()]


def mail_message(payload: dict, sender: str, recipients: list[str]) -> EmailMessage:
    """A plain-text e-mail: the sentence as subject, the sentence and the link as body."""
    subject = payload.get("release") or payload.get("version") or {}
    link = subject.get("approval_url") or subject.get("url") or ""
    message = EmailMessage()
    message["Subject"] = f"[Slipway] {sentence(payload)}"[:200]
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["X-Slipway-Event"] = str(payload.get("event"))
    message.set_content(f"{sentence(payload)}\n\n{link}\n")
    return message
