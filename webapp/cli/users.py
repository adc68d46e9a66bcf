"""``flask users create NAME --role ROLE``."""

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.audit.services import record
from webapp.extensions import db
from webapp.models import Role, User

users_cli = AppGroup("users", help="Manage Slipway users.")


@users_cli.command("create")
@click.argument("username")
@click.option(
    "--role", type=click.Choice([r.value for r in Role]), required=True, help="The user's role."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(username: str, role: str, password_stdin: bool) -> None:
    """Create a user; the password is prompted for (or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.ClickException("the password must have at least 8 characters")
    if db.session.scalar(select(User).where(User.username == username)):
        raise click.ClickException(f"user {username!r} exists")
    user = User(username=username, role=Role(role))
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record("create", user, user=None, detail=f"role {role} (command line)")
    db.session.commit()
    click.echo(f"created user {username} ({Role(role).label})")


@users_cli.command("sign-out")
@click.argument("username")
def sign_out_user(username: str) -> None:
    """End every session of a user (a stolen cookie stops working)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    user.end_sessions()
    record("sign_out_everywhere", user, user=None, detail="command line")
    db.session.commit()
    click.echo(f"signed {username} out everywhere")


@users_cli.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_user_password(username: str, password_stdin: bool) -> None:
    """Give a user a new password; every session signed in with the old one ends."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.ClickException("the password must have at least 8 characters")
    user.set_password(password)
    record("set_password", user, user=None, detail="command line; sessions ended")
    db.session.commit()
    click.echo(f"new password set for {username}; their sessions ended")
