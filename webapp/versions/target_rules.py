"""Target tags are immutable: where a version's images may go, and which tags are taken.

Step 3 of the form and the copy job both ask these. The registry half of the rule
(a tag that already exists there with another digest) is the job's: views never
call a registry.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from jobs.oci.ref import ImageRef
from webapp.extensions import db
from webapp.models import Project, Registry, Version, VersionImage


def namespace_problem(registry: Registry | None, target_ref: str) -> str | None:
    """Why ``target_ref`` may not be written to ``registry`` (outside its namespace), or None."""
    if registry is None:
        return None
    try:
        ref = ImageRef.parse(target_ref)
    except ValueError:
        return f"{target_ref} is not an image reference."
    namespace = (registry.namespace or "").strip("/")
    if ref.registry != registry.address:
        return f"The repository must be in the target registry {registry.address}."
    if namespace and not ref.repository.startswith(namespace + "/"):
        return f"The repository must lie under the registry's namespace: {registry.prefix}/…"
    return None


def recorded_elsewhere(target_refs: Iterable[str], version_id: int | None = None) -> dict[str, str]:
    """``{target ref: "version X of Project"}`` for refs another live version already recorded."""
    refs = {ref for ref in target_refs if ref}
    if not refs:
        return {}
    query = (
        select(VersionImage.target_ref, Version.name, Project.name)
        .join(Version, VersionImage.version_id == Version.id)
        .join(Project, Version.project_id == Project.id)
        .where(
            VersionImage.target_ref.in_(refs),
            VersionImage.push.is_(True),
            Version.deleted_at.is_(None),
        )
        .order_by(Version.id)
    )
    if version_id is not None:
        query = query.where(Version.id != version_id)
    taken: dict[str, str] = {}
    for ref, version, project in db.session.execute(query):
        taken.setdefault(ref, f"version {version} of {project}")
    return taken


def taken_message(target_ref: str, owner: str) -> str:
    return f"{target_ref} is already the target of {owner}; tags are immutable: choose another tag."


def drift_message(target_ref: str, found: str, wanted: str) -> str:
    return (
        f"{target_ref} already exists in the registry with digest {found}, not this image's "
        f"{wanted}; tags are immutable: choose another tag."
    )
