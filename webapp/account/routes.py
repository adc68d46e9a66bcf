"""The account pages: your password, your API tokens."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_user
from sqlalchemy import select

from webapp.account import bp, tokens
from webapp.extensions import db
from webapp.models import ApiToken
from webapp.pages import render_form
from webapp.people import services
from webapp.people.forms import ChangePasswordForm, ConfirmForm, TokenForm


@bp.route("/password", methods=["GET", "POST"])
def password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        me = current_user._get_current_object()
        try:
            services.change_own_password(me, form.current.data, form.new.data)
        except services.PeopleRefused as exc:
            form.current.errors.append(str(exc))
        else:
            login_user(me)  # this session goes on, the others end
            flash("Password changed; your other sessions are signed out.", "success")
            return redirect(url_for(".password"))
    return render_form("account/password.html", form)


def _tokens_page(form: TokenForm, secret: str | None = None, new_token=None):
    rows = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.id.desc())
    ).all()
    status = 422 if form.errors else (201 if secret else 200)
    page = render_template(
        "account/tokens.html",
        form=form,
        tokens=rows,
        secret=secret,
        new_token=new_token,
        confirm_form=ConfirmForm(),
    )
    return page, status, {"Cache-Control": "no-store"}


@bp.route("/tokens", methods=["GET", "POST"])
def api_tokens():
    form = TokenForm()
    if form.validate_on_submit():
        token, secret = tokens.issue(
            current_user._get_current_object(),
            form.name.data.strip(),
            form.scopes.data,
            form.expires_in.data,
        )
        # The secret is on this answer only; reloading the list never shows it again.
        return _tokens_page(TokenForm(formdata=None), secret=secret, new_token=token)
    return _tokens_page(form)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
def revoke_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    # Admins may revoke anyone's token (from the person's page); others only their own.
    if token is None or (token.user_id != current_user.id and not current_user.is_admin):
        abort(404, "No such token.")
    if not ConfirmForm().validate_on_submit():
        abort(422, "The form expired; reload the page.")
    tokens.revoke(token)
    flash(f"Token {token.name} revoked.", "success")
    if token.user_id != current_user.id:
        return redirect(url_for("people.detail", user_id=token.user_id))
    return redirect(url_for(".api_tokens"))
