"""The delivery metrics page of a project: pick an environment and a period."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template, request
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, ValidationError

from webapp.boundary import SubForm, id_value
from webapp.metrics import bp
from webapp.metrics.charts import Bar, bar_chart
from webapp.metrics.queries import Metrics, environment_metrics, mean, percentile
from webapp.models import Project
from webapp.models.base import utcnow
from webapp.pages import get_or_404

MAX_DAYS = 366


class PeriodForm(SubForm):
    environment_id = SelectField("Environment", coerce=id_value, validators=[DataRequired()])
    start = DateField("From", validators=[DataRequired()])
    end = DateField("To (inclusive)", validators=[DataRequired()])

    def validate_end(self, field) -> None:
        if self.start.data and field.data:
            if field.data < self.start.data:
                raise ValidationError("The end is before the start.")
            if (field.data - self.start.data).days >= MAX_DAYS:
                raise ValidationError(f"At most {MAX_DAYS} days.")


@bp.app_template_filter("human_duration")
def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min" if minutes else f"{seconds:.0f} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _charts(metrics: Metrics) -> dict:
    per_day = bar_chart(
        [
            Bar(
                day.day.strftime("%m-%d"),
                f"{day.day.isoformat()}: {day.passed} passed, {day.failed} failed",
                (("bar-passed", day.passed), ("bar-failed", day.failed)),
            )
            for day in metrics.days
        ],
        title="Releases per day: passed and failed",
    )
    lead = bar_chart(
        [
            Bar(
                f"#{r.id}",
                f"release #{r.id} ({r.version}): {human_duration(r.lead_seconds)}",
                (("bar-lead", r.lead_seconds / 3600),),
            )
            for r in metrics.deployments
            if r.lead_seconds is not None
        ],
        title="Lead time per release, hours",
        unit=" h",
    )
    waits = bar_chart(
        [
            Bar(
                f"#{a.release_id}",
                f"release #{a.release_id} {a.stage}: {human_duration(a.wait_seconds)}",
                (("bar-wait", a.wait_seconds / 3600),),
            )
            for a in metrics.approvals
        ],
        title="Approval wait per stage, hours",
        unit=" h",
    )
    return {"per_day": per_day, "lead": lead, "waits": waits}


@bp.route("/projects/<int:project_id>")
def project(project_id: int):
    project = get_or_404(Project, project_id, "project")
    envs = sorted(project.environments, key=lambda e: (not e.production, e.name))
    today = utcnow().date()
    defaults = {
        "environment_id": envs[0].id if envs else 0,
        "start": today - timedelta(days=29),
        "end": today,
    }
    form = PeriodForm(request.args, data=defaults)
    form.environment_id.choices = [
        SelectChoice(e.id, e.name + (" (production)" if e.production else "")) for e in envs
    ]
    if not envs:
        return render_template("metrics/project.html", project=project, form=form, metrics=None)
    if request.args and not form.validate():
        return render_template(
            "metrics/project.html", project=project, form=form, metrics=None
        ), 422
    environment = next(e for e in envs if e.id == form.environment_id.data)
    metrics = environment_metrics(environment.id, form.start.data, form.end.data)
    summary = {
        "lead_p50": percentile(metrics.lead_times, 0.5),
        "lead_mean": mean(metrics.lead_times),
        "restore_p50": percentile(metrics.restore_times, 0.5),
        "restore_mean": mean(metrics.restore_times),
        "wait_p50": percentile(metrics.approval_waits, 0.5),
        "wait_p90": percentile(metrics.approval_waits, 0.9),
    }
    return render_template(
        "metrics/project.html",
        project=project,
        form=form,
        environment=environment,
        metrics=metrics,
        summary=summary,
        charts=_charts(metrics),
    )
