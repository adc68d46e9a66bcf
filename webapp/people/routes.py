"""The people pages (admins only)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select

from webapp.auth.access import admin_required
from webapp.extensions import db
from webapp.models import ApiToken, Role, User
from webapp.pages import get_or_404, render_form
from webapp.people import bp, services
from webapp.people.forms import ConfirmForm, CreateUserForm, ResetPasswordForm, RoleForm


@bp.route("/")
@admin_required
def index():
    users = db.session.scalars(select(User).order_by(User.username)).all()
    tokens = dict(
        db.session.execute(
            select(ApiToken.user_id, func.count(ApiToken.id))
            .where(ApiToken.revoked_at.is_(None))
            .group_by(ApiToken.user_id)
        ).all()
    )
    return render_template("people/index.html", users=users, tokens=tokens)


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new():
    form = CreateUserForm()
    if form.validate_on_submit():
        username = form.username.data.strip()
        if services.username_taken(username):
            form.username.errors.append("This username exists.")
        else:
            try:
                user, password = services.create_user(
                    username, Role(form.role.data), form.password.data or None
                )
            except services.PeopleRefused as exc:
                form.username.errors.append(str(exc))
                return render_form("people/new.html", form)
            # Shown on this answer only: never stored in the session or a flash message.
            return _password_shown(user, password if not form.password.data else None, True)
    return render_form("people/new.html", form)


def _detail(user: User, status: int = 200, **forms):
    context = {
        "user": user,
        "role_form": forms.get("role_form") or RoleForm(data={"role": user.role.value}),
        "reset_form": forms.get("reset_form") or ResetPasswordForm(),
        "confirm_form": ConfirmForm(),
        "tokens": db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        ).all(),
    }
    return render_template("people/detail.html", **context), status


@bp.route("/<int:user_id>")
@admin_required
def detail(user_id: int):
    return _detail(get_or_404(User, user_id, "user"))


@bp.route("/<int:user_id>/role", methods=["POST"])
@admin_required
def role(user_id: int):
    user = get_or_404(User, user_id, "user")
    form = RoleForm()
    if not form.validate_on_submit():
        return _detail(user, 422, role_form=form)
    try:
        services.change_role(user, Role(form.role.data), current_user)
    except services.PeopleRefused as exc:
        form.role.errors.append(str(exc))
        return _detail(user, 422, role_form=form)
    flash(f"{user.username} is now {user.role.label.lower()}.", "success")
    return redirect(url_for(".detail", user_id=user.id))


@bp.route("/<int:user_id>/deactivate", methods=["POST"])
@admin_required
def deactivate(user_id: int):
    user = get_or_404(User, user_id, "user")
    if not ConfirmForm().validate_on_submit():
        return _detail(user, 422)
    try:
        services.deactivate(user, current_user)
    except services.PeopleRefused as exc:
        flash(str(exc), "error")
    else:
        flash(f"{user.username} is deactivated: signed out, tokens revoked.", "success")
    return redirect(url_for(".detail", user_id=user.id))


@bp.route("/<int:user_id>/reactivate", methods=["POST"])
@admin_required
def reactivate(user_id: int):
    user = get_or_404(User, user_id, "user")
    if not ConfirmForm().validate_on_submit():
        return _detail(user, 422)
    services.reactivate(user)
    flash(f"{user.username} can sign in again.", "success")
    return redirect(url_for(".detail", user_id=user.id))


@bp.route("/<int:user_id>/password", methods=["POST"])
@admin_required
def reset_password(user_id: int):
    user = get_or_404(User, user_id, "user")
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        return _detail(user, 422, reset_form=form)
    password = services.reset_password(user, form.password.data or None)
    return _password_shown(user, password if not form.password.data else None, False)


def _password_shown(user: User, password: str | None, created: bool):
    page = render_template(
        "people/password_shown.html", user=user, password=password, created=created
    )
    return page, 200, {"Cache-Control": "no-store"}
