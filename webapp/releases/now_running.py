"""What a release that ended unfinished leaves running, for its final status line.

The release page and the environment page show what runs now per service
(``webapp.releases.queries.now_running``), whatever the release's own end: a release
rejected or cancelled after its deploy stage leaves its version running, and its
final status line says so.
"""

from __future__ import annotations

from webapp.models import Release, ReleaseStatus, ServiceStatus

#: Ends after which the environment may run something the release did not finish proving.
UNFINISHED_ENDS = (
    ReleaseStatus.FAILED,
    ReleaseStatus.REJECTED,
    ReleaseStatus.TIMEOUT,
    ReleaseStatus.CANCELLED,
)


def left_deployed_note(release: Release, status: ReleaseStatus) -> str | None:
    """For a release ending ``status`` after it deployed: which services keep its version."""
    if status not in UNFINISHED_ENDS:
        return None
    names = sorted(
        {
            service.name
            for stage in release.stages
            if stage.kind.deploys
            for service in stage.services
            if service.status is ServiceStatus.PASSED
        }
    )
    if not names:
        return None
    return (
        f"Version {release.version.name} stays deployed in {release.environment.name} "
        f"({', '.join(names)}): this release deployed it before it ended {status.label}."
    )
