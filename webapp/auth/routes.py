import functools
import secrets
import time
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.audit.services import record
from webapp.auth import bp, throttle
from webapp.auth.access import SIGNED_IN_AT
from webapp.auth.forms import LoginForm
from webapp.extensions import db
from webapp.models import User


def _safe_next(target: str | None) -> str:
    """Only follow ``next`` to a path on this site."""
    if target and target.startswith("/") and not urlsplit(target).netloc and "\\" not in target:
        return target
    return url_for("main.index")


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, made the way real passwords are hashed."""
    return generate_password_hash(secrets.token_urlsafe(16))


def _password_matches(user: User | None, password: str) -> bool:
    """Check the password, spending the same time whether or not the user exists."""
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return False
    return user.check_password(password) and user.active


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        username, address = form.username.data, request.remote_addr
        wait = throttle.seconds_locked(username, address)
        if wait:
            record("sign_in_throttled", detail=f"username {username!r}, wait {wait}s", user=None)
            db.session.commit()
            form.password.errors.append(
                f"Too many failed sign-ins. Wait {wait} seconds, then try again."
            )
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(select(User).where(User.username == username))
        if _password_matches(user, form.password.data):
            throttle.clear_failures(username)
            # A fresh session: nothing from before sign-in survives, the CSRF token included.
            session.clear()
            session.permanent = True
            session[SIGNED_IN_AT] = int(time.time())
            login_user(user)
            record("sign_in", user, user=user)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        throttle.record_failure(username, address)
        record("sign_in_failed", detail=f"username {username!r}", user=None)
        db.session.commit()
        form.password.errors.append("Wrong username or password.")
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out, here and in every other session of the user (a copied cookie too)."""
    record("sign_out", current_user)
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
