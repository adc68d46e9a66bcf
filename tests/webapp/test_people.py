"""People pages (admins) and the account pages (everyone): each change audited, sessions and
tokens ended where they must be."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.helpers import PASSWORD
from webapp.extensions import db
from webapp.models import ApiToken, AuditEvent, Role, User


def html(response) -> str:
    return response.get_data(as_text=True)


def user_named(app, username: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        db.session.expunge(user)
        return user


def actions(app, username: str) -> list[str]:
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "user", AuditEvent.object_name == username)
            .order_by(AuditEvent.id)
        ).all()


def signed_in_client(app, username: str, password: str = PASSWORD):
    other = app.test_client()
    response = other.post("/auth/login", data={"username": username, "password": password})
    assert response.status_code == 302 and response.headers["Location"] == "/", html(response)
    assert other.get("/").status_code == 200
    return other


def is_signed_out(client) -> bool:
    response = client.get("/")
    return response.status_code == 302 and "/auth/login" in response.headers["Location"]


@pytest.fixture
def admin(client, auth):
    auth.login("admin")
    return client


def test_the_nav_links_to_people_for_admins_and_to_the_account_for_everyone(app, admin):
    page = html(admin.get("/"))
    assert 'href="/people/"' in page and 'href="/account/tokens"' in page
    viewer = signed_in_client(app, "viewer")
    page = html(viewer.get("/"))
    assert 'href="/people/"' not in page and 'href="/account/tokens"' in page
    assert 'href="/account/password"' in html(viewer.get("/account/tokens"))
    assert viewer.get("/people/").status_code == 403


def test_create_with_a_generated_password_shown_once(app, admin):
    response = admin.post("/people/new", data={"username": "carol", "role": "release_engineer"})
    assert response.status_code == 200
    password = re.search(r'id="new-password">([^<]+)<', html(response)).group(1)
    assert len(password) >= 16 and response.headers["Cache-Control"] == "no-store"
    assert password not in html(admin.get("/people/"))
    carol = signed_in_client(app, "carol", password)
    assert "Welcome, carol" in html(carol.get("/"))
    assert user_named(app, "carol").role is Role.RELEASE_ENGINEER
    assert actions(app, "carol") == ["create", "sign_in"]


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"username": "", "role": "viewer"}, "username", "required"),
        ({"username": "bad name", "role": "viewer"}, "username", "Letters"),
        ({"username": "viewer", "role": "viewer"}, "username", "exists"),
        ({"username": "dave", "role": "emperor"}, "role", "valid choice"),
        ({"username": "dave", "role": "viewer", "password": "short"}, "password", "between 8"),
    ],
)
def test_bad_new_users_are_refused_with_422(app, admin, data, field, message):
    response = admin.post("/people/new", data=data)
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error" role="alert">[^<]*{message}', html(response)), html(
        response
    )[-1500:]
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "dave")) is None


def test_change_role_is_audited_and_an_admin_cannot_demote_themself(app, admin):
    viewer = user_named(app, "viewer")
    assert (
        admin.post(f"/people/{viewer.id}/role", data={"role": "test_engineer"}).status_code == 302
    )
    assert user_named(app, "viewer").role is Role.TEST_ENGINEER
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "change_role"))
        assert event.detail == "viewer → test_engineer" and event.username == "admin"
    me = user_named(app, "admin")
    refused = admin.post(f"/people/{me.id}/role", data={"role": "viewer"})
    assert refused.status_code == 422 and "your own admin role" in html(refused)
    assert admin.post(f"/people/{viewer.id}/role", data={"role": "nope"}).status_code == 422


def test_deactivate_ends_sessions_and_tokens(app, admin):
    tester = signed_in_client(app, "tester")
    tester.post("/account/tokens", data={"name": "ci", "scopes": ["read"], "expires_in": 30})
    target = user_named(app, "tester")
    response = admin.post(f"/people/{target.id}/deactivate", follow_redirects=True)
    assert "deactivated: signed out, tokens revoked" in html(response)
    assert is_signed_out(tester)
    with app.app_context():
        assert db.session.scalar(select(ApiToken)).revoked_at is not None
    # Deactivated: the password no longer signs in.
    refused = app.test_client().post(
        "/auth/login", data={"username": "tester", "password": PASSWORD}
    )
    assert refused.status_code == 422
    me = user_named(app, "admin")
    admin.post(f"/people/{me.id}/deactivate")
    assert user_named(app, "admin").active
    admin.post(f"/people/{target.id}/reactivate")
    signed_in_client(app, "tester")
    assert actions(app, "tester")[-3:] == ["deactivate", "reactivate", "sign_in"]


def test_reset_password_generated_or_set_ends_the_users_sessions(app, admin):
    release = signed_in_client(app, "release")
    target = user_named(app, "release")
    response = admin.post(f"/people/{target.id}/password", data={"password": ""})
    generated = re.search(r'id="new-password">([^<]+)<', html(response)).group(1)
    assert is_signed_out(release)
    signed_in_client(app, "release", generated)
    response = admin.post(f"/people/{target.id}/password", data={"password": "chosen-by-admin"})
    assert "the one you typed" in html(response) and "chosen-by-admin" not in html(response)
    signed_in_client(app, "release", "chosen-by-admin")
    assert (
        admin.post(f"/people/{target.id}/password", data={"password": "short"}).status_code == 422
    )
    with app.app_context():
        details = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "reset_password")
        ).all()
    assert details == ["generated, shown once", "set by admin"]


def test_everyone_changes_their_own_password(app, client, auth):
    auth.login("viewer")
    elsewhere = signed_in_client(app, "viewer")
    wrong = client.post(
        "/account/password",
        data={"current": "nope", "new": "a-new-password", "confirm": "a-new-password"},
    )
    assert wrong.status_code == 422 and "current password is wrong" in html(wrong)
    differ = client.post(
        "/account/password", data={"current": PASSWORD, "new": "a-new-password", "confirm": "x"}
    )
    assert differ.status_code == 422 and "differ" in html(differ)
    done = client.post(
        "/account/password",
        data={"current": PASSWORD, "new": "a-new-password", "confirm": "a-new-password"},
    )
    assert done.status_code == 302
    assert client.get("/").status_code == 200  # this session goes on
    assert is_signed_out(elsewhere)  # the other one ended
    signed_in_client(app, "viewer", "a-new-password")
    assert "change_password" in actions(app, "viewer")


def test_tokens_page_shows_the_secret_once_and_revokes(app, client, auth):
    auth.login("release")
    response = client.post(
        "/account/tokens",
        data={"name": "bot", "scopes": ["read", "approve"], "expires_in": 90},
    )
    assert response.status_code == 201
    secret = re.search(r'id="token-secret">([^<]+)<', html(response)).group(1)
    assert response.headers["Cache-Control"] == "no-store"
    listing = html(client.get("/account/tokens"))
    assert secret not in listing and secret[:10] in listing and "read, approve" in listing
    with app.app_context():
        token = db.session.scalar(select(ApiToken))
        assert token.token_hash != secret and secret not in token.token_hash
        token_id = token.id
    assert (
        client.get("/api/v1/projects", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    # Someone else cannot revoke it; its owner can.
    other = signed_in_client(app, "tester")
    assert other.post(f"/account/tokens/{token_id}/revoke").status_code == 404
    assert client.post(f"/account/tokens/{token_id}/revoke").status_code == 302
    assert "revoked" in html(client.get("/account/tokens"))
    assert (
        client.get("/api/v1/projects", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )
    with app.app_context():
        assert db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_type == "api_token")
        ).all() == ["create_token", "revoke_token"]


def test_bad_token_forms_are_422(client, auth):
    auth.login("viewer")
    assert client.post("/account/tokens", data={"name": "", "scopes": ["read"]}).status_code == 422
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 422
    assert client.post("/account/tokens", data={"name": "x", "scopes": ["root"]}).status_code == 422
    assert (
        client.post(
            "/account/tokens", data={"name": "x", "scopes": ["read"], "expires_in": "soon"}
        ).status_code
        == 422
    )


def test_an_admin_revokes_someone_elses_token_from_their_page(app, admin):
    tester = signed_in_client(app, "tester")
    tester.post("/account/tokens", data={"name": "laptop", "scopes": ["read"], "expires_in": 7})
    target = user_named(app, "tester")
    page = html(admin.get(f"/people/{target.id}"))
    assert 'data-token="laptop"' in page and "Revoke laptop" in page
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id))
    response = admin.post(f"/account/tokens/{token_id}/revoke")
    assert response.headers["Location"] == f"/people/{target.id}"
    with app.app_context():
        assert db.session.get(ApiToken, token_id).revoked_at is not None
