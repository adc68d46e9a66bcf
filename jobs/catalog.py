"""Jobs behind the catalog's buttons: test a registry, test a cluster."""

from __future__ import annotations

from jobs.kube.cluster import server_version
from jobs.oci.registry import check_registry
from jobs.runtime import job_run
from webapp.extensions import db
from webapp.models import Cluster, Registry
from webapp.models.base import utcnow


@job_run
def test_registry_connection(job_run_id: int, registry_id: int) -> str:
    """A real authenticated ``GET /v2/`` against the registry."""

    registry = db.session.get(Registry, registry_id)
    if registry is None:
        raise LookupError("the registry was deleted")
    return check_registry(
        registry.address,
        # No stored password (dropped when the address changed): send no credentials.
        username=(registry.username or None) if registry.password else None,
        password=registry.password or None,
        plain_http=registry.plain_http,
        verify_tls=registry.verify_tls,
    )


@job_run
def test_cluster_connection(job_run_id: int, cluster_id: int) -> str:
    """Ask the cluster's API server for its version and remember it."""

    cluster = db.session.get(Cluster, cluster_id)
    if cluster is None:
        raise LookupError("the cluster was deleted")
    version = server_version(cluster.access())
    cluster.server_version = version
    cluster.checked_at = utcnow()
    db.session.commit()
    return f"Connected: Kubernetes {version}"
