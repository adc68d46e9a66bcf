"""Step 3's look at the target registry: which target tags exist already, and with what digest.

The form reads ``JobRun.data["targets"]``: ``{target ref: {"found": digest | None,
"source": digest | None}}``. A tag found with another digest than its source is taken.
"""

from __future__ import annotations

from jobs.oci.registry import NotFoundError, resolve
from jobs.runtime import Outcome, job_run
from jobs.versions import Endpoint, registry_endpoint, registry_host, source_endpoints
from webapp.extensions import db
from webapp.models import Registry


@job_run
def look_up_target_tags(job_run_id: int, registry_id: int, pairs: list[list[str]]) -> Outcome:
    """For each ``[source ref, target ref]``: the target tag's digest (None if free)."""
    registry = db.session.get(Registry, registry_id)
    if registry is None:
        raise LookupError("the target registry was deleted from the catalog")
    target = registry_endpoint(registry)
    sources = source_endpoints()
    targets: dict[str, dict] = {}
    for source_ref, target_ref in pairs:
        try:
            found = resolve(
                target_ref,
                auth=target.auth,
                plain_http=target.plain_http,
                verify_tls=target.verify_tls,
            )
        except NotFoundError:
            targets[target_ref] = {"found": None, "source": None}
            continue
        source = sources.get(registry_host(source_ref), Endpoint())
        try:
            wanted = resolve(
                source_ref,
                auth=source.auth,
                plain_http=source.plain_http,
                verify_tls=source.verify_tls,
            )
        except Exception:  # noqa: BLE001 - unknown source digest: the copy job decides
            wanted = None
        targets[target_ref] = {"found": found, "source": wanted}
    taken = [
        ref for ref, item in targets.items() if item["found"] and item["found"] != item["source"]
    ]
    summary = f"{len(taken)} of {len(targets)} target tags taken" + (
        ": " + ", ".join(taken) if taken else ""
    )
    return Outcome(summary, {"targets": targets})
