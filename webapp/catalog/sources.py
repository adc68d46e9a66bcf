"""Where source images may come from: a catalog registry, or an admin's allow-list.

Creating a version makes the worker fetch every source image; a source on any
other host would make it send requests wherever a draft says (SSRF). The
allow-list (``SLIPWAY_SOURCE_REGISTRIES``: comma-separated hosts, e.g.
``docker.io,ghcr.io``) is for public registries that need no catalog entry.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from jobs.oci.ref import ImageRef
from webapp.extensions import db
from webapp.models import Registry


def allowed_source_hosts() -> set[str]:
    """The hosts sources may name: every catalog registry's address, and the allow-list."""
    hosts = {address.lower() for address in db.session.scalars(select(Registry.address))}
    configured = current_app.config.get("SOURCE_REGISTRIES") or ""
    if isinstance(configured, str):
        configured = configured.split(",")
    hosts.update(host.strip().lower() for host in configured if host.strip())
    return hosts


def chart_source_problem(host: str) -> str | None:
    """Why a chart may not be pulled from ``host``, or None when it may."""
    if host.lower() in allowed_source_hosts():
        return None
    return (
        f"{host} is not a registry of the catalog: add it as a registry first (its "
        "credentials are used for the pull), so Slipway only contacts registries an admin chose."
    )


def source_problem(source_ref: str, allowed: set[str] | None = None) -> str | None:
    """Why a source image may not be fetched, or None when it may."""
    try:
        host = ImageRef.parse(source_ref).registry.lower()
    except ValueError:
        return f"The source image {source_ref!r} is not a valid image reference."
    if host in (allowed if allowed is not None else allowed_source_hosts()):
        return None
    return (
        f"The source image {source_ref} is on {host}, which is not a registry of the catalog. "
        "Use an image from a catalog registry, or ask an admin to add that registry."
    )
