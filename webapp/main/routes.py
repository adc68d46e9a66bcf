from flask import render_template
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.main import bp
from webapp.models import Cluster, Environment, JobRun, Project, Registry


@bp.route("/")
def index():
    counts = {
        name: db.session.scalar(select(func.count()).select_from(model))
        for name, model in (
            ("projects", Project),
            ("environments", Environment),
            ("clusters", Cluster),
            ("registries", Registry),
        )
    }
    projects = db.session.scalars(select(Project).order_by(Project.name)).all()
    recent_jobs = db.session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(5)).all()
    return render_template(
        "main/index.html", counts=counts, projects=projects, recent_jobs=recent_jobs
    )


@bp.route("/healthz")
def healthz():
    return {"status": "ok"}
