from flask import render_template
from sqlalchemy import func, select

from webapp.catalog import bp
from webapp.extensions import db
from webapp.models import Cluster, Project, Registry


@bp.route("/")
def index():
    """The catalog at a glance, with links to each list."""
    counts = {
        "clusters": db.session.scalar(select(func.count(Cluster.id))),
        "registries": db.session.scalar(select(func.count(Registry.id))),
        "projects": db.session.scalar(select(func.count(Project.id))),
    }
    return render_template("catalog/index.html", counts=counts)
