"""The catalog: clusters, registries, projects, services, environments."""

from flask import Blueprint

bp = Blueprint("catalog", __name__, url_prefix="/catalog")

from webapp.catalog import (  # noqa: E402,F401
    clusters,
    environments,
    project_links,
    projects,
    registries,
    routes,
    service_pages,
)
