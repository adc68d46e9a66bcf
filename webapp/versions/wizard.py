"""The three-step "Create version" form; its draft lives on the server between steps."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms.fields.choices import SelectChoice

from webapp.auth.access import roles_required
from webapp.extensions import db
from webapp.htmx_responses import fragment, is_htmx
from webapp.models import Environment, Project, ProjectKind, Registry, VersionDraft
from webapp.pages import get_or_404
from webapp.versions import bp, drafts, helm_wizard, services, tag_lookup, target_rules
from webapp.versions.forms import (
    NAME_MESSAGE,
    TAG_MESSAGE,
    TAG_RE,
    VERSION_NAME_RE,
    BasicsForm,
    ImagesForm,
    ServicesForm,
    parse_labels,
)
from webapp.versions.plan import (
    default_repository,
    deployed_services,
    environment_of,
    plan,
    registry_of,
)

NAME_TAKEN = "A version with this name exists in this project."


def get_yaml_project(project_id: int) -> Project:
    """The project a version is made for: K8s YAML or Helm."""
    project = get_or_404(Project, project_id, "project")
    if project.kind not in (ProjectKind.K8S_YAML, ProjectKind.HELM):
        abort(400, f"Versions cannot be made for {project.name}.")
    return project


def _step_url(project: Project, step: int) -> str:
    return url_for(".new_step", project_id=project.id, step=step)


@bp.route("/projects/<int:project_id>/new")
@roles_required(*services.EDITOR_ROLES)
def new(project_id: int):
    """Start a version, or resume the draft where it was left."""
    project = get_yaml_project(project_id)
    draft = drafts.active_draft(current_user.id, project.id)
    step = draft.step if draft is not None and draft.step in drafts.STEPS else 1
    return redirect(_step_url(project, step))


@bp.route("/projects/<int:project_id>/new/discard", methods=["POST"])
@roles_required(*services.EDITOR_ROLES)
def discard(project_id: int):
    project = get_yaml_project(project_id)
    draft = drafts.active_draft(current_user.id, project.id)
    if draft is not None:
        drafts.discard(draft)
    return redirect(url_for(".index", project_id=project.id))


@bp.route("/projects/<int:project_id>/name-check")
@roles_required(*services.EDITOR_ROLES)
def name_check(project_id: int):
    """Checked as you type: the name's format and whether the project has it."""
    project = get_yaml_project(project_id)
    name = (request.args.get("name") or "").strip()
    if not name:
        problem = None
    elif not VERSION_NAME_RE.match(name):
        problem = NAME_MESSAGE
    elif services.name_in_use(project.id, name):
        problem = NAME_TAKEN
    else:
        problem = ""
    return fragment("partials/versions/name_check.html", name=name, problem=problem)


@bp.route("/projects/<int:project_id>/new/<int:step>", methods=["GET", "POST"])
@roles_required(*services.EDITOR_ROLES)
def new_step(project_id: int, step: int):
    if step not in drafts.STEPS:
        abort(404, "No such step.")
    project = get_yaml_project(project_id)
    if request.method == "POST" and step == 3:
        done = _already_created()
        if done is not None:
            return done
    draft = drafts.active_draft(current_user.id, project.id)
    if draft is not None:
        problem = drafts.draft_problem(draft.data)
        if problem:
            return _invalid_draft(project, draft, problem)
    if request.method == "GET":
        if draft is None and step > 1:
            return redirect(_step_url(project, 1))
        if draft is not None and step > max(draft.step, draft.data.get("reached", 1)):
            return redirect(_step_url(project, draft.step))
        data = draft.data if draft else {}
        return _render(step, project, data, draft)
    draft = draft or drafts.open_draft(current_user.id, project.id)
    try:
        return (_basics, _services, _images)[step - 1](project, draft)
    except drafts.InvalidDraft as exc:
        abort(422, f"This cannot be kept in your draft: {exc}")


def _invalid_draft(project: Project, draft: VersionDraft, problem: str):
    """A stored draft that cannot be used: say why and offer Discard, never fail."""
    page = render_template(
        "versions/draft_invalid.html", project=project, data=draft.data, problem=problem
    )
    return page, 422


def _already_created():
    """A second click on Create: follow to the version the first one made."""
    draft = drafts.draft_by_token(request.form.get("token"))
    if draft is None or draft.consumed_at is None or draft.user_id != current_user.id:
        return None
    if draft.version_id is None:
        abort(409, "This draft was already used. Start a new version.")
    return redirect(url_for(".detail", version_id=draft.version_id))


def _basics(project: Project, draft: VersionDraft):
    form = BasicsForm()
    changes = {
        "name": (form.name.data or "").strip(),
        "labels": parse_labels(form.labels.data),
        "description": form.description.data or "",
    }
    valid = _check_basics(form, project)
    drafts.save(draft, changes, step=2 if valid else 1)
    if valid:
        return redirect(_step_url(project, 2))
    return _render(1, project, draft.data, draft, form=form)


def _check_basics(form: BasicsForm, project: Project) -> bool:
    valid = form.validate()
    if not form.name.errors and services.name_in_use(project.id, form.name.data.strip()):
        form.name.errors.append(NAME_TAKEN)
        valid = False
    return valid


def _services(project: Project, draft: VersionDraft):
    form = ServicesForm()
    _service_choices(form, project, form.environment_id.data)
    action = form.action.data
    changes = {
        "environment_id": form.environment_id.data or None,
        "service_ids": list(form.service_ids.data or []),
    }
    helm = helm_wizard.is_helm(project)
    if helm:
        changes.update(helm_wizard.posted_values(draft.data, changes["environment_id"]))
    if helm and action == "values":
        drafts.save(draft, changes, step=2)
        return _render(2, project, draft.data, draft)
    if helm and action in helm_wizard.GLOBAL_ACTIONS:
        drafts.save(draft, changes, step=2)
        error = helm_wizard.apply_or_reset(project, draft, action)
        status = 422 if error else 200
        if is_htmx("helm-values"):
            context = helm_wizard.values_context(project, draft.data, error)
            return fragment("partials/versions/helm_values.html", status, **context)
        page, _ = _render(2, project, draft.data, draft, globals_error=error)
        return page, status
    if action == "back":
        drafts.save(draft, changes, step=1)
        return redirect(_step_url(project, 1))
    if action in ("environment", "all", "none"):
        everything = [choice[0] for choice in form.service_ids.choices]
        changes["service_ids"] = [] if action == "none" else everything
        drafts.save(draft, changes, step=2)
        if is_htmx("draft-services"):
            return fragment(
                "partials/versions/draft_services.html", **_services_context(project, draft.data)
            )
        return _render(2, project, draft.data, draft)
    valid = form.validate()
    globals_error = None
    if helm and valid:
        problems = helm_wizard.values_problems({**draft.data, **changes}, project)
        if problems:
            form.service_ids.errors = ["Correct the values marked below."]
            valid = False
        globals_error = helm_wizard.unapplied_globals({**draft.data, **changes})
        if globals_error and action == "next":
            valid = False
    drafts.save(draft, changes, step=3 if valid else 2)
    if valid:
        return redirect(_step_url(project, 3))
    page, _ = _render(2, project, draft.data, draft, form=form, globals_error=globals_error)
    return page, 422


def _images(project: Project, draft: VersionDraft):
    form = ImagesForm()
    registry = registry_of(form.registry_id.data)
    form.registry_address = registry.address if registry else None
    _registry_choices(form)
    action = form.action.data
    changes = {"registry_id": registry.id if registry else None}
    helm = helm_wizard.is_helm(project)
    if helm:
        changes.update(helm_wizard.posted_charts(draft.data))
    if action == "registry":
        changes["images"] = _image_changes(form, project, draft.data, None, keep_repositories=False)
    else:
        if action == "apply_tags":
            tag = (form.all_tags.data or "").strip()
            if TAG_RE.match(tag):
                for row in form.images:
                    row.form.tag.data = tag
            else:
                form.all_tags.errors = [TAG_MESSAGE]
        changes["images"] = _image_changes(form, project, draft.data, registry)
    if form.all_tags.errors:
        drafts.save(draft, changes, step=3)
        if is_htmx("draft-images"):
            form.token.data = draft.token
            return fragment(
                "partials/versions/draft_images.html",
                422,
                **_images_context(project, draft, form),
            )
        return _render(3, project, draft.data, draft, form=form)
    if action == "back":
        drafts.save(draft, changes, step=2)
        return redirect(_step_url(project, 2))
    if helm and action == "chart_registry":
        drafts.save(draft, changes, step=3)
        if is_htmx("helm-charts"):
            context = helm_wizard.charts_context(project, draft.data, draft=draft)
            return fragment("partials/versions/helm_charts.html", project=project, **context)
        return _render(3, project, draft.data, draft)
    if action in ("registry", "apply_tags"):
        drafts.save(draft, changes, step=3)
        if is_htmx("draft-images"):
            form = _images_form(draft.data, project)
            form.token.data = draft.token
            return fragment(
                "partials/versions/draft_images.html", **_images_context(project, draft, form)
            )
        return _render(3, project, draft.data, draft)
    drafts.save(draft, changes, step=3)
    # Check what the draft now holds (defaults filled in), not the raw rows.
    check = _images_form(draft.data, project)
    check.registry_address = registry.address if registry else None
    check.token.data = draft.token
    charts = helm_wizard.charts_form(project, draft.data) if helm else None
    valid = check.validate()
    if valid and not _check_target_tags(check, project, draft.data, registry):
        valid = False
    if charts is not None and not helm_wizard.check_charts(charts, project, draft.data):
        valid = False
    if not valid:
        return _render(3, project, draft.data, draft, form=check, charts_form=charts)
    return _create(project, draft)


def _check_target_tags(
    form: ImagesForm, project: Project, data: dict, registry: Registry | None
) -> bool:
    """Each pushed image's target is under the registry's namespace and no other version's."""
    targets = {
        image.key: image.target_ref
        for service in plan(data, project.id)
        for image in service.images
        if image.push
    }
    taken = target_rules.recorded_elsewhere(targets.values())
    in_registry = tag_lookup.taken_tags(project, data)
    ok = True
    for row in form.images:
        ref = targets.get(row.form.key.data)
        if ref is None:
            continue
        problem = target_rules.namespace_problem(registry, ref)
        if problem:
            row.form.repository.errors = [*row.form.repository.errors, problem]
            ok = False
        elif ref in taken:
            row.form.tag.errors = [
                *row.form.tag.errors,
                target_rules.taken_message(ref, taken[ref]),
            ]
            ok = False
        elif ref in in_registry:
            found, wanted = in_registry[ref]
            message = target_rules.drift_message(ref, found, wanted or "(unknown)")
            row.form.tag.errors = [*row.form.tag.errors, message]
            ok = False
    if not ok:
        form.images.errors = [*form.images.errors, "Correct the images marked below."]
    return ok


def _image_changes(
    form: ImagesForm,
    project: Project,
    data: dict,
    registry: Registry | None,
    *,
    keep_repositories: bool = True,
) -> dict:
    """Per-image settings to keep: only what differs from the defaults, so defaults follow."""
    sources = {
        image.key: image.source_ref
        for service in plan(data, project.id)
        for image in service.images
    }
    images = {}
    for row in form.images:
        key = row.form.key.data
        if key not in sources:
            continue
        repository = (row.form.repository.data or "").strip()
        tag = (row.form.tag.data or "").strip()
        defaults = (
            default_repository(registry, sources[key]),
            default_repository(None, sources[key]),
        )
        keep_repo = keep_repositories and repository not in defaults
        images[key] = {
            "repository": repository if keep_repo else None,
            "tag": tag if tag != (data.get("name") or "") else None,
            "push": bool(row.form.push.data),
        }
    return images


def _create(project: Project, draft: VersionDraft):
    """Claim the draft, check every step again, write the version: all in one transaction."""
    data = dict(draft.data)
    if not drafts.claim(draft):
        db.session.rollback()
        return _already_created_or_409(draft.token)
    basics = BasicsForm(
        formdata=None,
        data={**data, "labels": ", ".join(data.get("labels") or [])},
        meta={"csrf": False},
    )
    if not _check_basics(basics, project):
        db.session.rollback()
        drafts.save(draft, {}, step=1)
        return _render(1, project, data, draft, form=basics)
    chosen = ServicesForm(formdata=None, data=data, meta={"csrf": False})
    _service_choices(chosen, project, data.get("environment_id"))
    if not chosen.validate():
        db.session.rollback()
        drafts.save(draft, {}, step=2)
        return _render(2, project, data, draft, form=chosen)
    version = services.create_version(project, data, plan(data, project.id), current_user)
    draft.version_id = version.id
    try:
        # The version, its copy job and the used draft: one commit.
        services.start_copy(version, current_user, commit=False)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        basics.name.errors = [NAME_TAKEN]
        drafts.save(draft, {}, step=1)
        return _render(1, project, data, draft, form=basics)
    return redirect(url_for(".detail", version_id=version.id))


def _already_created_or_409(token: str):
    draft = drafts.draft_by_token(token)
    if draft is not None and draft.version_id is not None:
        return redirect(url_for(".detail", version_id=draft.version_id))
    abort(409, "This draft is being used by another request. Reload the page.")


def _service_choices(form: ServicesForm, project: Project, environment_id: int | None) -> None:
    envs = db.session.scalars(
        select(Environment).where(Environment.project_id == project.id).order_by(Environment.name)
    ).all()
    form.environment_id.choices = [SelectChoice(0, "— choose —")] + [
        SelectChoice(env.id, env.name) for env in envs
    ]
    env = environment_of(project.id, environment_id)
    form.service_ids.choices = [
        (row.service_id, row.service.name) for row in deployed_services(env.id if env else None)
    ]


def _registry_choices(form: ImagesForm) -> None:
    registries = db.session.scalars(select(Registry).order_by(Registry.name)).all()
    form.registry_id.choices = [SelectChoice(0, "— choose —")] + [
        SelectChoice(r.id, f"{r.name} ({r.prefix})") for r in registries
    ]


def _images_form(data: dict, project: Project) -> ImagesForm:
    images = [i for service in plan(data, project.id) for i in service.images]
    rows = [
        {"key": i.key, "repository": i.repository, "tag": i.tag, "push": i.push} for i in images
    ]
    form = ImagesForm(
        formdata=None,
        data={"registry_id": data.get("registry_id") or 0, "images": rows},
        meta={"csrf": False},
    )
    form.sources = {i.key: i.source_ref for i in images}
    _registry_choices(form)
    return form


def _services_context(project: Project, data: dict, globals_error: str | None = None) -> dict:
    form = ServicesForm(formdata=None, data=data)
    _service_choices(form, project, data.get("environment_id"))
    context = {
        "project": project,
        "services_form": form,
        "previews": _previews(project, data),
        "data": data,
    }
    if helm_wizard.is_helm(project):
        context.update(helm_wizard.values_context(project, data, globals_error))
    return context


def _previews(project: Project, data: dict) -> list:
    """Every deployed service of the environment with its YAML as step 3 would rewrite it."""
    everything = [row.service_id for row in deployed_services(data.get("environment_id"))]
    return plan({**data, "service_ids": everything}, project.id)


def _images_context(project: Project, draft: VersionDraft, form: ImagesForm) -> dict:
    planned = {
        i.key: (service, i) for service in plan(draft.data, project.id) for i in service.images
    }
    if draft is not None:
        tag_lookup.look_up(project, draft)
    return {
        "project": project,
        "images_form": form,
        "planned": planned,
        "draft": draft,
        **tag_lookup.context(project, draft.data if draft else {}),
    }


def _render(
    step: int,
    project: Project,
    data: dict,
    draft: VersionDraft | None,
    form=None,
    *,
    globals_error: str | None = None,
    charts_form=None,
):
    """A step page; 422 when the submitted form has errors."""
    context = {"project": project, "step": step, "draft": draft, "data": data}
    if step == 1:
        form = form or BasicsForm(
            formdata=None, data={**data, "labels": ", ".join(data.get("labels") or [])}
        )
        context["form"] = form
    elif step == 2:
        context.update(_services_context(project, data, globals_error))
        if form is not None:
            form.environment_id.choices = context["services_form"].environment_id.choices
            form.service_ids.choices = context["services_form"].service_ids.choices
            context["services_form"] = form
        form = context["services_form"]
    else:
        form = form or _images_form(data, project)
        if draft is not None:
            form.token.data = draft.token
        context.update(_images_context(project, draft, form))
        if helm_wizard.is_helm(project):
            context.update(helm_wizard.charts_context(project, data, charts_form, draft))
    chart_errors = charts_form is not None and (
        charts_form.errors or any(row.form.version.errors for row in charts_form.charts)
    )
    status = 422 if form.errors or chart_errors else 200
    template = (
        "versions/new_basics.html",
        "versions/new_services.html",
        "versions/new_images.html",
    )
    return render_template(template[step - 1], **context), status


def problems(project: Project, data: dict) -> list[tuple[str, str]]:
    """What Create would refuse in a complete draft ``data``: ``(field, message)`` pairs.

    The JSON API sends its requests through here, so a version made by a CI job
    passes the same checks as one made with the form.
    """
    found: list[tuple[str, str]] = []

    def collect(form, prefix: str = "") -> None:
        for name, messages in form.errors.items():
            if name in ("images", "csrf_token"):
                continue
            for message in messages if isinstance(messages, list) else [messages]:
                if isinstance(message, str):
                    found.append((prefix + name, message))

    basics = BasicsForm(
        formdata=None,
        data={**data, "labels": ", ".join(data.get("labels") or [])},
        meta={"csrf": False},
    )
    if not _check_basics(basics, project):
        collect(basics)
    chosen = ServicesForm(formdata=None, data=data, meta={"csrf": False})
    _service_choices(chosen, project, data.get("environment_id"))
    if not chosen.validate():
        collect(chosen)
    if found:
        return found
    helm = helm_wizard.is_helm(project)
    if helm:
        for service_id, message in helm_wizard.values_problems(data, project).items():
            found.append((f"values.{service_id}", message))
    registry = registry_of(data.get("registry_id"))
    images = _images_form(data, project)
    images.registry_address = registry.address if registry else None
    if not images.validate():
        collect(images)
        for row in images.images:
            for name, messages in row.form.errors.items():
                found += [(f"images.{row.form.key.data}.{name}", m) for m in messages]
    if helm:
        charts = helm_wizard.charts_form(project, data)
        if not helm_wizard.check_charts(charts):
            collect(charts)
            for row in charts.charts:
                for message in row.form.version.errors:
                    found.append((f"chart_versions.{row.form.service_id.data}", message))
    return found
