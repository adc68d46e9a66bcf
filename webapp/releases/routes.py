"""Release pages: the list, start, the timeline, awaiting my approval, environment history."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms.fields.choices import SelectChoice

from webapp.auth import permissions
from webapp.auth.access import roles_required
from webapp.extensions import db
from webapp.htmx_responses import fragment, unchanged
from webapp.jobruns.routes import STOP_POLLING
from webapp.models import (
    Environment,
    Release,
    ReleaseStage,
    ReleaseStatus,
    Role,
    User,
    Version,
    VersionStatus,
    Workflow,
)
from webapp.pages import get_or_404, render_form
from webapp.pagination import paginate
from webapp.releases import bp, queries, retry_rules, services
from webapp.releases.forms import DecisionForm, StartReleaseForm

HISTORY_SIZE = 10


# One query: a stage has services (deploy) or decisions (approval), never many of both,
# so joining both collections stays small; it is the timeline poll's main cost.
_TIMELINE_LOADS = (
    joinedload(Release.stages).joinedload(ReleaseStage.services),
    joinedload(Release.stages).joinedload(ReleaseStage.decisions),
)


def get_release(release_id: int, *, page: bool = True) -> Release:
    """A release with what its page (or, ``page=False``, its timeline alone) shows."""
    options = list(_TIMELINE_LOADS)
    if page:
        options += [
            joinedload(Release.version),
            joinedload(Release.environment),
            joinedload(Release.workflow),
            joinedload(Release.requested_by),
        ]
    release = db.session.get(Release, release_id, options=options)
    if release is None:
        abort(404, "No such release.")
    return release


def _list_query():
    return select(Release).options(
        joinedload(Release.version),
        joinedload(Release.environment),
        joinedload(Release.workflow),
        joinedload(Release.requested_by),
        joinedload(Release.project),
    )


def _timeline_context(release: Release) -> dict:
    holder = services.lock_holders([release.environment_id]).get(release.environment_id)
    behind = holder if release.status.value == "queued" and holder != release.id else None
    approver_ids = {
        user_id for stage in release.stages for user_id in stage.settings.get("approver_ids") or []
    }
    usernames = {}
    if approver_ids:
        usernames = dict(
            db.session.execute(
                select(User.id, User.username).where(User.id.in_(approver_ids))
            ).all()
        )
    return {
        "release": release,
        "behind": behind,
        "usernames": usernames,
        "stamp": queries.stamp_of(release, holder),
        "can_act": permissions.may_operate_releases(current_user),
        "can_retry": release.can_become(ReleaseStatus.QUEUED),
        "rollback_target": services.rollback_target(release) if release.status.finished else None,
        "now_running": queries.now_running(release.environment_id),
        **retry_rules.retry_context(release),
    }


@bp.app_context_processor
def navigation_counts() -> dict:
    def awaiting_approval_count() -> int:
        if not current_user.is_authenticated:
            return 0
        return len(queries.awaiting(current_user))

    return {"awaiting_approval_count": awaiting_approval_count}


@bp.route("/")
def index():
    page = paginate(_list_query().order_by(Release.id.desc()))
    behind = services.lock_holders(r.environment_id for r in page.items)
    return render_template("releases/index.html", page=page, behind=behind)


@bp.route("/rows")
def rows():
    """The list's rows, polled: every 2 s while a release on the page runs, else every 10 s."""
    page = paginate(_list_query().order_by(Release.id.desc()))
    behind = services.lock_holders(r.environment_id for r in page.items)
    return fragment("partials/releases/rows.html", page=page, behind=behind)


@bp.route("/awaiting")
def awaiting():
    """Releases waiting for an approval the signed-in user may give."""
    return render_template("releases/awaiting.html", releases=queries.awaiting(current_user))


@bp.route("/new/<int:workflow_id>", methods=["GET", "POST"])
@roles_required(Role.RELEASE_ENGINEER, Role.TEST_ENGINEER)
def new(workflow_id: int):
    workflow = get_or_404(Workflow, workflow_id, "workflow")
    if not services.may_run(current_user, workflow):
        abort(403)
    versions = db.session.scalars(
        select(Version)
        .where(
            Version.project_id == workflow.project_id,
            Version.status == VersionStatus.SUCCESS,
            Version.deleted_at.is_(None),
        )
        .order_by(Version.id.desc())
    ).all()
    form = StartReleaseForm()
    form.version_id.choices = [SelectChoice(v.id, v.name) for v in versions]
    if not form.is_submitted():  # "Release this version" on a version page picks it
        form.version_id.data = request.args.get("version_id", type=int)
    chosen = _service_choices(form, versions)
    if request.form.get("action") == "services":  # no JS: show the picked version's services
        form.services.data = [choice.value for choice in form.services.choices]
        return render_template("releases/new.html", form=form, workflow=workflow, versions=versions)
    if form.validate_on_submit():
        version = chosen
        try:
            release = services.start_release(
                workflow, version, current_user, only_services=form.selected_services()
            )
        except services.ReleaseRefused as exc:
            form.version_id.errors.append(str(exc))
        else:
            flash(services.start_message(release), "success")
            return redirect(url_for(".detail", release_id=release.id))
    return render_form("releases/new.html", form, workflow=workflow, versions=versions)


def _service_choices(form: StartReleaseForm, versions: list[Version]) -> Version | None:
    """Offer the services of the picked version (the newest when none is); all checked at first."""
    chosen = next((v for v in versions if v.id == form.version_id.data), None)
    if chosen is None and not form.is_submitted() and versions:
        chosen = versions[0]
    form.services.choices = (
        [SelectChoice(s.name, s.name) for s in chosen.services] if chosen else []
    )
    if not form.is_submitted():
        form.services.data = [choice.value for choice in form.services.choices]
    return chosen


@bp.route("/new/<int:workflow_id>/services")
@roles_required(Role.RELEASE_ENGINEER, Role.TEST_ENGINEER)
def new_services(workflow_id: int):
    """The services of the version picked in the start form (htmx, on changing the version)."""
    workflow = get_or_404(Workflow, workflow_id, "workflow")
    if not services.may_run(current_user, workflow):
        abort(403)
    version = get_or_404(Version, request.args.get("version_id", 0, type=int), "version")
    if version.project_id != workflow.project_id or version.status is not VersionStatus.SUCCESS:
        abort(404, "No such version of this project.")
    form = StartReleaseForm(formdata=None)
    form.version_id.choices = [SelectChoice(version.id, version.name)]
    form.version_id.data = version.id
    form.services.choices = [SelectChoice(s.name, s.name) for s in version.services]
    form.services.data = [choice.value for choice in form.services.choices]
    return fragment("partials/releases/start_services.html", form=form, workflow=workflow)


@bp.route("/<int:release_id>")
def detail(release_id: int):
    release = get_release(release_id)
    context = _timeline_context(release)
    stage = release.waiting_stage()
    refusal = None
    if stage is not None:
        refusal = services.approval_refusal(release, stage, current_user)
    return render_template(
        "releases/detail.html",
        waiting=stage,
        refusal=refusal,
        decision_form=DecisionForm(),
        **context,
    )


@bp.route("/<int:release_id>/timeline")
def timeline(release_id: int):
    """The timeline alone, polled every second; 286 once the release has ended.

    The poll sends the stamp of what it shows: when nothing changed since, the
    answer is an empty 204 (htmx keeps the timeline and polls on).
    """
    seen = request.args.get("seen")
    if seen and seen == queries.timeline_stamp(release_id):
        return unchanged()
    release = get_release(release_id, page=False)
    code = STOP_POLLING if release.status.finished else 200
    return fragment("partials/releases/timeline.html", code, **_timeline_context(release))


@bp.route("/environments/<int:environment_id>")
def environment(environment_id: int):
    """What each service of an environment runs and its recent releases.

    Polled every 2 s while one of them runs, else every 10 s to catch new ones.
    """
    env = get_or_404(Environment, environment_id, "environment")
    return fragment("partials/releases/environment.html", **environment_context(env))


def environment_context(env: Environment) -> dict:
    history = db.session.scalars(
        _list_query()
        .where(Release.environment_id == env.id)
        .order_by(Release.id.desc())
        .limit(HISTORY_SIZE)
    ).all()
    return {
        "environment": env,
        "deployed": queries.deployed_versions(env.id),
        "history": history,
        "behind": services.lock_holders([env.id]),
    }


@bp.app_template_global()
def release_environment_context(env: Environment) -> dict:
    """For the environment page's include of ``partials/releases/environment.html``."""
    return environment_context(env)


@bp.app_template_global()
def may_start_release(workflow: Workflow) -> bool:
    """Whether the signed-in user may start a release of ``workflow`` (for its buttons)."""
    return bool(workflow.stages) and services.may_run(current_user, workflow)
