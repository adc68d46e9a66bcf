"""The Helm parts of the version form: values editors, global variables, charts.

``webapp.versions.wizard`` calls these for Helm projects; the draft keeps
``values`` (service id -> text), ``globals_yaml``, ``values_before_globals``
(what Reset restores), ``values_after_globals`` (what Apply left: an editor that
differs from it was edited since, and Reset keeps it), ``globals_applied_yaml``
(the block as last applied: a different one typed is "not applied"),
``globals_missing`` (keys no service has), ``chart_registry_id`` and ``chart_versions``.
"""

from __future__ import annotations

from flask import request
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from jobs.helm.charts import (
    ChartError,
    build_metadata_problem,
    check_chart_version,
    existing_chart_message,
    next_chart_version,
)
from jobs.helm.values import ValuesError
from webapp.extensions import db
from webapp.jobruns.queue import enqueue
from webapp.models import JobRun, JobStatus, Project, ProjectKind, Registry, VersionDraft
from webapp.versions import drafts
from webapp.versions.helm import (
    PlannedChart,
    apply_globals,
    chart_repository,
    keys_no_service_has,
)
from webapp.versions.helm_forms import HelmChartsForm, HelmValuesForm
from webapp.versions.plan import plan, registry_of

GLOBAL_ACTIONS = ("apply_globals", "apply_globals_everywhere", "reset_globals")
_GLOBALS_STATE = {
    "values_before_globals": None,
    "values_after_globals": None,
    "globals_applied_yaml": None,
    "globals_changed": {},
    "globals_missing": [],
    "globals_kept": [],
}
LOOKUP_KIND = "chart_versions_lookup"


def is_helm(project: Project) -> bool:
    return project.kind == ProjectKind.HELM


def planned_charts(data: dict, project: Project) -> list[PlannedChart]:
    return [item for item in plan(data, project.id) if isinstance(item, PlannedChart)]


def posted_values(data: dict, environment_id: int | None) -> dict:
    """The draft changes the step-2 post carries: edited values and the global block.

    Edits belong to the environment they started from: another environment starts afresh.
    """
    if data.get("environment_id") and environment_id != data["environment_id"]:
        return {"values": {}, **_GLOBALS_STATE}
    form = HelmValuesForm(request.form)
    values = dict(data.get("values") or {})
    for row in form.values:
        service_id = (row.form.service_id.data or "").strip()
        if service_id.isdigit():
            values[service_id] = (row.form.values.data or "").replace("\r\n", "\n")
    changes: dict = {"values": values}
    if form.globals_yaml.raw_data:
        changes["globals_yaml"] = (form.globals_yaml.data or "").replace("\r\n", "\n")
    return changes


def apply_or_reset(project: Project, draft: VersionDraft, action: str) -> str | None:
    """Apply the global block to the chosen services' values, or Reset; the error, if any.

    Reset goes back to the values from before the first Apply, but an editor
    changed after the last Apply keeps its text (``globals_kept`` names it).
    """
    data = draft.data
    values = dict(data.get("values") or {})
    if action == "reset_globals":
        after = data.get("values_after_globals") or {}
        kept = []
        for service_id, text in (data.get("values_before_globals") or {}).items():
            if (
                service_id in after
                and values.get(service_id, after[service_id]) != after[service_id]
            ):
                kept.append(service_id)
            else:
                values[service_id] = text
        drafts.save(draft, {"values": values, **_GLOBALS_STATE, "globals_kept": kept})
        return None
    current = {str(chart.service.id): chart.source_yaml for chart in planned_charts(data, project)}
    block = data.get("globals_yaml") or ""
    try:
        applied, changed = apply_globals(
            current, block, add_missing=action == "apply_globals_everywhere"
        )
        missing = keys_no_service_has(applied, block)
    except ValuesError as exc:
        return str(exc)
    # Reset goes back to before the first Apply, however many follow.
    before = data.get("values_before_globals") or current
    values.update(applied)
    drafts.save(
        draft,
        {
            "values": values,
            "values_before_globals": before,
            "values_after_globals": applied,
            "globals_applied_yaml": block,
            "globals_changed": changed,
            "globals_missing": missing,
            "globals_kept": [],
        },
    )
    return None


def unapplied_globals(data: dict) -> str | None:
    """Why step 2 may not be left: a global block typed but not applied as it stands."""
    typed = (data.get("globals_yaml") or "").strip()
    if typed and typed != (data.get("globals_applied_yaml") or "").strip():
        return (
            "These global variables are not applied: press Apply to put them into the "
            "services' values, or clear the block."
        )
    return None


def values_problems(data: dict, project: Project) -> dict[int, str]:
    """Services whose values or image paths cannot be used, with why."""
    return {c.service.id: c.problem for c in planned_charts(data, project) if c.problem}


def values_context(project: Project, data: dict, globals_error: str | None = None) -> dict:
    """What the values editors region renders."""
    charts = planned_charts(data, project)
    form = HelmValuesForm(
        data={
            "values": [
                {"service_id": str(chart.service.id), "values": chart.source_yaml}
                for chart in charts
            ],
            "globals_yaml": data.get("globals_yaml") or "",
        }
    )
    if globals_error:
        form.globals_yaml.errors = [globals_error]
    return {
        "project": project,
        "helm_form": form,
        "helm_charts": charts,
        "globals_changed": data.get("globals_changed") or {},
        "globals_applied": bool(data.get("values_before_globals")),
        "globals_missing": data.get("globals_missing") or [],
        "globals_kept": [
            chart.service.name
            for chart in charts
            if str(chart.service.id) in (data.get("globals_kept") or [])
        ],
    }


def posted_charts(data: dict) -> dict:
    """The draft changes the step-3 post carries: chart repository and chart versions."""
    form = HelmChartsForm(request.form)
    versions = dict(data.get("chart_versions") or {})
    for row in form.charts:
        service_id = (row.form.service_id.data or "").strip()
        if service_id.isdigit():
            versions[service_id] = (row.form.version.data or "").strip()
    changes: dict = {"chart_versions": versions}
    if form.chart_registry_id.raw_data:
        registry = registry_of(form.chart_registry_id.data)
        changes["chart_registry_id"] = registry.id if registry else None
    return changes


def charts_form(project: Project, data: dict) -> HelmChartsForm:
    charts = planned_charts(data, project)
    form = HelmChartsForm(
        data={
            "chart_registry_id": data.get("chart_registry_id") or 0,
            "charts": [
                {"service_id": str(chart.service.id), "version": chart.chart_version}
                for chart in charts
            ],
        }
    )
    registries = db.session.scalars(select(Registry).order_by(Registry.name)).all()
    form.chart_registry_id.choices = [SelectChoice(0, "— choose —")] + [
        SelectChoice(r.id, f"{r.name} (oci://{chart_repository(r)})") for r in registries
    ]
    return form


def check_charts(
    form: HelmChartsForm, project: Project | None = None, data: dict | None = None
) -> bool:
    """A chart repository is chosen; each chart version is empty or SemVer 2 without build
    metadata, and not one the lookup found in the repository (chart versions are immutable)."""
    ok = True
    registry = registry_of(form.chart_registry_id.data)
    if not registry:
        form.chart_registry_id.errors = ["Choose the chart repository."]
        ok = False
    names, existing = {}, {}
    if project is not None and data is not None:
        names = {str(c.service.id): c.chart_name for c in planned_charts(data, project)}
        existing = known_versions(data)
    for row in form.charts:
        version = (row.form.version.data or "").strip()
        if not version:
            continue
        try:
            check_chart_version(version)
        except ChartError as exc:
            row.form.version.errors = [str(exc)]
            ok = False
            continue
        name = names.get((row.form.service_id.data or "").strip())
        problem = build_metadata_problem(version)
        if problem is None and registry and version in existing.get(name, []):
            problem = existing_chart_message(name, version, chart_repository(registry))
        if problem:
            row.form.version.errors = [problem]
            ok = False
    return ok


def known_versions(data: dict) -> dict[str, list[str]]:
    """Every version of each chart the finished lookup found in the draft's chart repository."""
    lookup = data.get("chart_lookup") or {}
    if not lookup.get("run_id") or lookup.get("registry_id") != data.get("chart_registry_id"):
        return {}
    run = db.session.get(JobRun, lookup["run_id"])
    if run is None or run.status != JobStatus.SUCCEEDED:
        return {}
    return (run.data or {}).get("versions", {})


def charts_context(
    project: Project,
    data: dict,
    form: HelmChartsForm | None = None,
    draft: VersionDraft | None = None,
) -> dict:
    form = form or charts_form(project, data)
    charts = {str(chart.service.id): chart for chart in planned_charts(data, project)}
    if draft is not None:
        look_up_versions(project, draft)
        data = draft.data
    return {"charts_form": form, "planned_charts": charts, **lookup_context(project, data)}


def look_up_versions(project: Project, draft: VersionDraft) -> None:
    """Enqueue a lookup of the charts' newest versions unless one ran for this repository."""
    data = draft.data
    registry = registry_of(data.get("chart_registry_id"))
    if registry is None:
        return
    names = sorted({chart.chart_name for chart in planned_charts(data, project)})
    lookup = data.get("chart_lookup") or {}
    if not names or (lookup.get("registry_id"), lookup.get("charts")) == (registry.id, names):
        return
    repository = chart_repository(registry)
    run = enqueue(
        "jobs.version_charts.look_up_chart_versions",
        registry.id,
        repository,
        names,
        kind=LOOKUP_KIND,
        title=f"Look up chart versions in oci://{repository}",
        target=draft,
        user=current_user,
    )
    drafts.save(
        draft, {"chart_lookup": {"registry_id": registry.id, "charts": names, "run_id": run.id}}
    )


def lookup_context(project: Project, data: dict) -> dict:
    """The lookup's run and, per chart, the newest version in the repository and the suggestion."""
    lookup = data.get("chart_lookup") or {}
    run = db.session.get(JobRun, lookup["run_id"]) if lookup.get("run_id") else None
    if run is None or lookup.get("registry_id") != data.get("chart_registry_id"):
        return {"lookup_run": None, "chart_newest": {}}
    newest = (run.data or {}).get("newest", {}) if run.status == JobStatus.SUCCEEDED else {}
    rows = {
        name: (version, next_chart_version([version] if version else []))
        for name, version in newest.items()
    }
    return {"lookup_run": run, "chart_newest": rows}
