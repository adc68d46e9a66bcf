from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from webapp.audit.services import record
from webapp.auth import bp
from webapp.auth.forms import LoginForm
from webapp.extensions import db
from webapp.models import User


def _safe_next(target: str | None) -> str:
    """Only follow ``next`` to a path on this site."""
    if target and target.startswith("/") and not urlsplit(target).netloc and "\\" not in target:
        return target
    return url_for("main.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data))
        if user and user.active and user.check_password(form.password.data):
            login_user(user)
            record("sign_in", user, user=user)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        record("sign_in_failed", detail=f"username {form.username.data!r}", user=None)
        db.session.commit()
        form.password.errors.append("Wrong username or password.")
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    record("sign_out", current_user)
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
