"""Step 3 asks the target registry, through a job, which target tags already exist.

The view never calls the registry: it enqueues ``jobs.version_tags.look_up_target_tags``
for the draft's (source, target) pairs, and the region polls the run until it ends.
Create then refuses a tag the registry holds with another digest; while the look-up is
still running, the copy job makes the same check before it copies anything.
"""

from __future__ import annotations

import hashlib
import json

from flask import url_for
from flask_login import current_user

from webapp.auth.access import roles_required
from webapp.extensions import db
from webapp.htmx_responses import fragment
from webapp.jobruns.queue import enqueue
from webapp.jobruns.routes import STOP_POLLING
from webapp.models import JobRun, JobStatus, Project, VersionDraft
from webapp.pages import get_or_404
from webapp.versions import bp, drafts, services
from webapp.versions.plan import plan, registry_of

LOOKUP_KIND = "target_tags_lookup"


def _pairs(project: Project, data: dict) -> list[list[str]]:
    return sorted(
        [image.source_ref, image.target_ref]
        for service in plan(data, project.id)
        for image in service.images
        if image.push
    )


def _key(registry_id: int, pairs: list[list[str]]) -> str:
    return hashlib.sha256(json.dumps([registry_id, pairs]).encode()).hexdigest()[:16]


def look_up(project: Project, draft: VersionDraft) -> None:
    """Enqueue a look-up of the draft's target tags unless one ran for exactly these."""
    data = draft.data
    registry = registry_of(data.get("registry_id"))
    pairs = _pairs(project, data)
    if registry is None or not pairs:
        return
    key = _key(registry.id, pairs)
    if (data.get("tag_lookup") or {}).get("key") == key:
        return
    run = enqueue(
        "jobs.version_tags.look_up_target_tags",
        registry.id,
        pairs,
        kind=LOOKUP_KIND,
        title=f"Look up the target tags in {registry.prefix}",
        target=draft,
        user=current_user,
    )
    drafts.save(draft, {"tag_lookup": {"key": key, "run_id": run.id}})


def lookup_run(project: Project, data: dict) -> JobRun | None:
    """The look-up run for the draft's current targets, if one was made."""
    lookup = data.get("tag_lookup") or {}
    registry = registry_of(data.get("registry_id"))
    if registry is None or not lookup.get("run_id"):
        return None
    if lookup.get("key") != _key(registry.id, _pairs(project, data)):
        return None
    return db.session.get(JobRun, lookup["run_id"])


def taken_tags(project: Project, data: dict) -> dict[str, tuple[str, str | None]]:
    """``{target ref: (digest found, this image's digest)}`` for tags the registry holds."""
    run = lookup_run(project, data)
    if run is None or run.status != JobStatus.SUCCEEDED:
        return {}
    targets = (run.data or {}).get("targets", {})
    return {
        ref: (item["found"], item.get("source"))
        for ref, item in targets.items()
        if item.get("found") and item["found"] != item.get("source")
    }


def context(project: Project, data: dict) -> dict:
    return {
        "tag_lookup_run": lookup_run(project, data),
        "taken_tags": taken_tags(project, data),
        "tag_lookup_url": url_for(".target_tags", project_id=project.id),
    }


@bp.route("/projects/<int:project_id>/new/target-tags")
@roles_required(*services.EDITOR_ROLES)
def target_tags(project_id: int):
    """What the target registry holds at the draft's tags; 286 once the look-up ended."""
    project = get_or_404(Project, project_id, "project")
    draft = drafts.active_draft(current_user.id, project.id)
    found = context(project, draft.data if draft else {})
    run = found["tag_lookup_run"]
    code = 200 if run is not None and not run.status.finished else STOP_POLLING
    return fragment("partials/versions/tag_lookup.html", code, **found)
