from flask import abort, render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.htmx_responses import fragment
from webapp.jobruns import bp
from webapp.models import JobRun
from webapp.pagination import paginate

STOP_POLLING = 286  # htmx stops polling on this status


def get_run(run_id: int) -> JobRun:
    run = db.session.get(JobRun, run_id, options=[joinedload(JobRun.created_by)])
    if run is None:
        abort(404, "No such job.")
    return run


@bp.route("/")
def index():
    query = select(JobRun).options(joinedload(JobRun.created_by)).order_by(JobRun.id.desc())
    return render_template("jobruns/index.html", page=paginate(query))


@bp.route("/<int:run_id>")
def detail(run_id: int):
    return render_template("jobruns/detail.html", run=get_run(run_id))


@bp.route("/<int:run_id>/status")
def status(run_id: int):
    """The status widget: 200 while the job runs, 286 with the final markup when it ends."""
    run = get_run(run_id)
    code = STOP_POLLING if run.status.finished else 200
    return fragment("partials/jobruns/status.html", code, run=run)
