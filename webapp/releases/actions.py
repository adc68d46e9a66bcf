"""What people do to a release: approve or reject, cancel, retry, roll back."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import current_user

from webapp.auth.access import roles_required
from webapp.models import Decision, Role
from webapp.releases import bp, services
from webapp.releases.forms import DecisionForm
from webapp.releases.routes import get_release


def _back(release_id: int):
    return redirect(url_for(".detail", release_id=release_id))


@bp.route("/<int:release_id>/decision", methods=["POST"])
@roles_required(Role.RELEASE_ENGINEER)
def decide(release_id: int):
    release = get_release(release_id)
    form = DecisionForm()
    if not form.validate_on_submit() or not (form.approve.data or form.reject.data):
        flash("Choose Approve or Reject; a comment is at most 4000 characters.", "error")
        return _back(release.id)
    decision = Decision.APPROVE if form.approve.data else Decision.REJECT
    try:
        services.decide(release, current_user, decision, (form.comment.data or "").strip())
    except services.ReleaseRefused as exc:
        flash(str(exc), "error")
        return _back(release.id)
    verb = "approved" if decision is Decision.APPROVE else "rejected"
    flash(f"You {verb} release #{release.id}.{services.queue_note(release)}", "success")
    return _back(release.id)


@bp.route("/<int:release_id>/cancel", methods=["POST"])
@roles_required(Role.RELEASE_ENGINEER)
def cancel(release_id: int):
    release = get_release(release_id)
    try:
        flash(services.cancel(release, current_user), "success")
    except services.ReleaseRefused as exc:
        flash(str(exc), "error")
    return _back(release.id)


@bp.route("/<int:release_id>/retry", methods=["POST"])
@roles_required(Role.RELEASE_ENGINEER)
def retry(release_id: int):
    release = get_release(release_id)
    try:
        services.retry(release, current_user)
    except services.ReleaseRefused as exc:
        flash(str(exc), "error")
    else:
        flash(
            f"Release #{release.id} queued again from its first unfinished stage."
            + services.queue_note(release),
            "success",
        )
    return _back(release.id)


@bp.route("/<int:release_id>/rollback", methods=["POST"])
@roles_required(Role.RELEASE_ENGINEER)
def rollback(release_id: int):
    release = get_release(release_id)
    try:
        new = services.rollback(release, current_user)
    except services.ReleaseRefused as exc:
        flash(str(exc), "error")
        return _back(release.id)
    flash(services.start_message(new), "success")
    return _back(new.id)
