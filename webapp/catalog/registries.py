"""Registry pages."""

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from webapp.audit.services import record
from webapp.auth.access import admin_required
from webapp.catalog import bp
from webapp.catalog.forms import RegistryForm
from webapp.catalog.usage import registry_users
from webapp.extensions import db
from webapp.htmx_responses import fragment, is_htmx
from webapp.jobruns.queue import enqueue
from webapp.models import JobRun, Registry
from webapp.pages import get_or_404, name_taken, render_form, users_message

_FIELDS = ("name", "address", "namespace", "username", "verify_tls", "plain_http")


@bp.route("/registries/")
def registries():
    items = db.session.scalars(select(Registry).order_by(Registry.name)).all()
    return render_template("catalog/registries.html", registries=items)


@bp.route("/registries/<int:registry_id>")
def registry(registry_id: int):
    item = get_or_404(Registry, registry_id, "registry")
    last_test = db.session.scalar(
        select(JobRun)
        .where(JobRun.kind == "registry_test", JobRun.target_id == item.id)
        .order_by(JobRun.id.desc())
        .limit(1)
    )
    return render_template("catalog/registry.html", registry=item, last_test=last_test)


def _save(form: RegistryForm, item: Registry) -> None:
    for field in _FIELDS:
        setattr(item, field, getattr(form, field).data or ("" if field == "namespace" else None))
    item.verify_tls = bool(form.verify_tls.data)
    item.plain_http = bool(form.plain_http.data)
    if form.password.data:
        item.password = form.password.data
    if not item.username:
        item.password = None


@bp.route("/registries/new", methods=["GET", "POST"])
@admin_required
def new_registry():
    form = RegistryForm()
    if form.validate_on_submit():
        if name_taken(Registry, Registry.name, form.name.data):
            form.name.errors.append("A registry with this name exists.")
        else:
            item = Registry()
            _save(form, item)
            db.session.add(item)
            db.session.flush()
            record("create", item)
            db.session.commit()
            flash(f"Registry {item.name} added.", "success")
            return redirect(url_for(".registry", registry_id=item.id))
    return render_form("catalog/registry_form.html", form, registry=None)


@bp.route("/registries/<int:registry_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_registry(registry_id: int):
    item = get_or_404(Registry, registry_id, "registry")
    form = RegistryForm(obj=item)
    if form.validate_on_submit():
        if name_taken(Registry, Registry.name, form.name.data, exclude_id=item.id):
            form.name.errors.append("A registry with this name exists.")
        else:
            changed_password = bool(form.password.data)
            # Plain HTTP after TLS is a new address too: the password would travel in clear.
            moved = form.address.data.strip().lower() != item.address.strip().lower() or (
                bool(form.plain_http.data) and not item.plain_http
            )
            # The stored password belongs to the old address: never send it to a new one.
            dropped = moved and not changed_password and item.password is not None
            if dropped:
                item.password = None
            _save(form, item)
            detail = "password replaced" if changed_password else None
            if dropped:
                detail = "address changed, stored password dropped"
            record("update", item, detail=detail)
            db.session.commit()
            if dropped:
                flash(
                    f"Registry {item.name} saved without its password: the address changed, so "
                    "enter the password for the new address.",
                    "warning",
                )
            else:
                flash(f"Registry {item.name} saved.", "success")
            return redirect(url_for(".registry", registry_id=item.id))
    form.password.data = ""
    return render_form("catalog/registry_form.html", form, registry=item)


@bp.route("/registries/<int:registry_id>/delete", methods=["POST"])
@admin_required
def delete_registry(registry_id: int):
    item = get_or_404(Registry, registry_id, "registry")
    users = registry_users(item)
    if users:
        flash(users_message(f"registry {item.name}", users), "error")
        return redirect(url_for(".registry", registry_id=item.id))
    record("delete", item)
    db.session.delete(item)
    db.session.commit()
    flash(f"Registry {item.name} deleted.", "success")
    return redirect(url_for(".registries"))


@bp.route("/registries/<int:registry_id>/test", methods=["POST"])
@admin_required
def test_registry(registry_id: int):
    item = get_or_404(Registry, registry_id, "registry")
    run = enqueue(
        "jobs.catalog.test_registry_connection",
        item.id,
        kind="registry_test",
        title=f"Test connection to registry {item.name}",
        target=item,
        user=current_user,
    )
    if is_htmx():
        return fragment("partials/jobruns/status.html", run=run)
    return redirect(url_for(".registry", registry_id=item.id))
