"""Deliver one notification to its target's configured URL, with retries on transient faults.

The URL, kind and secret are read from the target row at delivery time: the
job never calls an address that did not come from an admin's configuration.
Each attempt lands on the delivery row (status code, error, attempts); a 5xx,
a 429 or no answer is tried again later, any other answer ends it.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta

import requests
from flask import current_app

from jobs.runtime import _ensure_app_context
from webapp.extensions import db
from webapp.jobruns.queue import get_queue
from webapp.models import DeliveryStatus, NotificationDelivery, TargetKind
from webapp.models.base import utcnow
from webapp.notifications.messages import (
    SIGNATURE_HEADER,
    body_for,
    mail_message,
    mail_recipients,
    signature,
)

#: Seconds before each retry (``SLIPWAY_NOTIFICATION_RETRY_DELAYS``): 3 retries by default.
RETRY_DELAYS = (10, 60, 300)
TIMEOUT = 10


def deliver(delivery_id: int) -> str:
    """Send the delivery once; schedule the next attempt or end it."""
    context = _ensure_app_context()
    if context is not None:
        context.push()
    try:
        return _attempt(delivery_id)
    finally:
        db.session.remove()
        if context is not None:
            context.pop()


def _attempt(delivery_id: int) -> str:
    db.session.remove()  # a forked work-horse must not reuse the parent's connections
    delivery = db.session.get(NotificationDelivery, delivery_id)
    if delivery is None:
        return f"Delivery {delivery_id} is gone."
    if delivery.status is not DeliveryStatus.PENDING:
        return f"Delivery {delivery_id} is {delivery.status.value} already."
    target = delivery.target
    delivery.attempts += 1
    delivery.last_attempt_at = utcnow()
    if not target.enabled:
        return _end(delivery, DeliveryStatus.FAILED, None, "The target was disabled.")
    if target.kind is TargetKind.EMAIL:
        code, error, transient = _send_mail(delivery, target)
        if error is None:
            return _end(delivery, DeliveryStatus.DELIVERED, code, None)
        return _retry_or_end(delivery, code, error, transient)
    body = body_for(target.kind, delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Slipway-Notifications",
        "X-Slipway-Event": delivery.event,
        "X-Slipway-Delivery": str(delivery.id),
    }
    if target.secret:
        headers[SIGNATURE_HEADER] = signature(target.secret, body)
    try:
        response = requests.post(
            target.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
        )
    except requests.RequestException as exc:
        code, error, transient = None, f"No answer: {exc.__class__.__name__}: {exc}", True
    else:
        code = response.status_code
        if 200 <= code < 300:
            return _end(delivery, DeliveryStatus.DELIVERED, code, None)
        error = f"HTTP {code}: {response.text[:300]}"
        transient = code >= 500 or code == 429
    return _retry_or_end(delivery, code, error, transient)


def _send_mail(delivery, target) -> tuple[int | None, str | None, bool]:
    """Send over the configured SMTP server: (SMTP reply code, error, worth retrying)."""
    config = current_app.config
    message = mail_message(
        delivery.payload, config.get("SMTP_FROM", "slipway@localhost"), mail_recipients(target.url)
    )
    try:
        with smtplib.SMTP(
            config.get("SMTP_HOST", "127.0.0.1"), int(config.get("SMTP_PORT", 25)), timeout=TIMEOUT
        ) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls()
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        return None, f"SMTP refused the recipients: {exc.recipients}", False
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", exc.smtp_code < 500
    except (smtplib.SMTPException, OSError) as exc:
        return None, f"No answer from SMTP: {exc.__class__.__name__}: {exc}", True
    return 250, None, False


def _retry_or_end(delivery, code: int | None, error: str, transient: bool) -> str:
    delays = retry_delays()
    if transient and delivery.attempts <= len(delays):
        delay = float(delays[delivery.attempts - 1])
        delivery.status_code, delivery.error = code, error
        delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
        db.session.commit()
        _enqueue_again(delivery, delay)
        return f"Attempt {delivery.attempts} failed ({error}); trying again in {delay:g} s."
    return _end(delivery, DeliveryStatus.FAILED, code, error)


def retry_delays() -> list[float]:
    """Seconds before each retry; the setting may be a list or text like ``10,60,300``."""
    setting = current_app.config.get("NOTIFICATION_RETRY_DELAYS", RETRY_DELAYS)
    if isinstance(setting, str):
        setting = [part for part in setting.split(",") if part.strip()]
    elif isinstance(setting, int | float):
        setting = [setting]
    return [float(delay) for delay in setting]


def _end(delivery, status: DeliveryStatus, code: int | None, error: str | None) -> str:
    delivery.status, delivery.status_code, delivery.error = status, code, error
    delivery.next_attempt_at = None
    if status is DeliveryStatus.DELIVERED:
        delivery.delivered_at = utcnow()
    db.session.commit()
    return f"Delivery {delivery.id} {status.value} after {delivery.attempts} attempt(s)."


def _enqueue_again(delivery, delay: float) -> None:
    queue = get_queue()
    job_id = f"notification-{delivery.id}-{delivery.attempts + 1}"
    options = {"job_id": job_id, "result_ttl": 86400, "failure_ttl": 7 * 86400}
    if delay <= 0:
        queue.enqueue("jobs.notifications.deliver", delivery.id, **options)
    else:
        queue.enqueue_in(
            timedelta(seconds=delay), "jobs.notifications.deliver", delivery.id, **options
        )
