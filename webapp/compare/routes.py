"""Compare pages: version vs version, version vs environment, and the "Compare with…" picker."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload, undefer
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from webapp.boundary import SubForm
from webapp.compare import bp
from webapp.compare.changes import (
    Comparison,
    DiffLine,
    compare_versions,
    compare_with_environment,
)
from webapp.extensions import db
from webapp.models import (
    Environment,
    EnvironmentService,
    Release,
    ReleaseStatus,
    Version,
    VersionService,
    VersionStatus,
)


def _load_version(version_id: int) -> Version:
    version = db.session.get(
        Version,
        version_id,
        options=[
            selectinload(Version.services).options(
                undefer(VersionService.yaml),
                undefer(VersionService.values_yaml),
                selectinload(VersionService.images),
            ),
            joinedload(Version.project),
        ],
    )
    if version is None or version.deleted_at is not None:
        abort(404, "No such version.")
    return version


def _load_environment(environment_id: int) -> Environment:
    env = db.session.get(
        Environment,
        environment_id,
        options=[
            selectinload(Environment.deployed).options(
                selectinload(EnvironmentService.images),
                joinedload(EnvironmentService.service),
            ),
            joinedload(Environment.project),
        ],
    )
    if env is None:
        abort(404, "No such environment.")
    return env


class CompareWithForm(SubForm):
    """GET form: the other side, ``v<id>`` for a version or ``e<id>`` for an environment."""

    other = SelectField("Compare with", validators=[InputRequired()])


def picker(version: Version, data=None) -> CompareWithForm:
    versions = db.session.execute(
        select(Version.id, Version.name)
        .where(
            Version.project_id == version.project_id,
            Version.id != version.id,
            Version.deleted_at.is_(None),
            Version.status == VersionStatus.SUCCESS,
        )
        .order_by(Version.id.desc())
    ).all()
    envs = db.session.execute(
        select(Environment.id, Environment.name)
        .where(Environment.project_id == version.project_id)
        .order_by(Environment.name)
    ).all()
    form = CompareWithForm(data)
    form.other.choices = {
        "Environments (what a release would change there)": [
            SelectChoice(f"e{i}", n) for i, n in envs
        ],
        "Versions": [SelectChoice(f"v{i}", n) for i, n in versions],
    }
    return form


@bp.route("/versions/<int:version_id>")
def compare_with(version_id: int):
    """Pick the other side; a valid pick redirects to its comparison page."""
    version = _load_version(version_id)
    form = picker(version, request.args)
    if request.args and form.validate():
        kind, other = form.other.data[0], int(form.other.data[1:])
        if kind == "e":
            return redirect(
                url_for(".version_environment", version_id=version.id, environment_id=other)
            )
        return redirect(url_for(".versions", old_id=other, new_id=version.id))
    status = 422 if request.args else 200
    return render_template("compare/pick.html", version=version, form=form), status


@bp.route("/versions/<int:old_id>/<int:new_id>")
def versions(old_id: int, new_id: int):
    old, new = _load_version(old_id), _load_version(new_id)
    if old.project_id != new.project_id:
        abort(404, "The two versions belong to different projects.")
    comparison = compare_versions(old, new)
    return render_template(
        "compare/page.html",
        comparison=comparison,
        project=new.project,
        version=new,
        old_version=old,
        environment=None,
    )


@bp.route("/versions/<int:version_id>/environments/<int:environment_id>")
def version_environment(version_id: int, environment_id: int):
    version, env = _load_version(version_id), _load_environment(environment_id)
    if version.project_id != env.project_id:
        abort(404, "The version and the environment belong to different projects.")
    comparison = compare_with_environment(version, env)
    return render_template(
        "compare/page.html",
        comparison=comparison,
        project=version.project,
        version=version,
        old_version=None,
        environment=env,
    )


@bp.route("/environments/<int:environment_id>")
def environment_with(environment_id: int):
    """From the environment page: pick a version to see what releasing it would change."""
    env = db.session.get(Environment, environment_id)
    if env is None:
        abort(404, "No such environment.")
    version_id = request.args.get("version_id", type=int)
    if version_id is None:
        abort(422, "Pick a version to compare with.")
    return redirect(url_for(".version_environment", version_id=version_id, environment_id=env.id))


# --- the approval card -----------------------------------------------------------


def _previous_release(release: Release) -> Release | None:
    return db.session.scalar(
        select(Release)
        .where(
            Release.environment_id == release.environment_id,
            Release.status == ReleaseStatus.PASSED,
            Release.id < release.id,
        )
        .order_by(Release.id.desc())
        .limit(1)
    )


@bp.app_template_global()
def approval_changes(release: Release) -> dict:
    """The change list an approver sees: what this release changes in its environment.

    Before the release deployed, against what the environment runs now; once a
    deploy stage of it passed, against the version the environment ran before
    (the previous passed release there), since the environment runs this one already.
    """
    version = _load_version(release.version_id)
    deployed = any(
        stage.kind.deploys and stage.status.value == "passed" for stage in release.stages
    )
    previous = _previous_release(release) if deployed else None
    if previous is not None:
        comparison: Comparison = compare_versions(_load_version(previous.version_id), version)
        full = url_for("compare.versions", old_id=previous.version_id, new_id=version.id)
        against = f"version {previous.version.name} (release #{previous.id}, ran before)"
    else:
        env = _load_environment(release.environment_id)
        comparison = compare_with_environment(version, env)
        full = url_for("compare.version_environment", version_id=version.id, environment_id=env.id)
        against = f"what {env.name} runs (recorded state)"
    return {"comparison": comparison, "full_url": full, "against": against}


@bp.app_template_global()
def comparable_versions(project_id: int) -> list:
    """(id, name) of the project's successful versions, newest first, for the pickers."""
    return db.session.execute(
        select(Version.id, Version.name)
        .where(
            Version.project_id == project_id,
            Version.deleted_at.is_(None),
            Version.status == VersionStatus.SUCCESS,
        )
        .order_by(Version.id.desc())
    ).all()


@bp.app_template_filter("diff_lines")
def diff_lines(text: str | None) -> list[DiffLine]:
    """A stored unified diff as lines tagged for colouring (the ``diff`` macro renders them)."""
    lines = []
    for line in (text or "").splitlines():
        if line.startswith(("---", "+++")):
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "context"
        lines.append(DiffLine(kind, line))
    return lines
