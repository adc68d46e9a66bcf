"""What an environment runs now, per service: the version and the release that put it there.

The release page and the environment page both show it, whatever the release's own
end: a release rejected or cancelled after its deploy stage leaves its version running,
and its final status line says so.
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


def now_running(environment_id: int) -> list[dict]:
    """``[{service, version, release_id, is_rollback}]`` in service name order."""
    # queries imports services, which imports this module: import it when called.
    from webapp.releases import queries

    rows = queries.deployed_versions(environment_id)
    running = [
        {
            "service": row.name,
            "version": row.stage.release.version.name,
            "release_id": row.stage.release.id,
            "is_rollback": row.stage.release.is_rollback,
        }
        for row in rows.values()
    ]
    return sorted(running, key=lambda item: item["service"])


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
