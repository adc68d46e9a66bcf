"""Sign-in, sign-out and catalog changes leave audit events an admin can filter."""

from tests.webapp.samples import KUBECONFIG


def test_sign_in_changes_and_sign_out_are_audited(client, auth):
    auth.login("tester", "wrong password")
    auth.login("admin")
    client.post("/catalog/clusters/new", data={"name": "c1", "kubeconfig_text": KUBECONFIG})
    client.post("/catalog/projects/new", data={"key": "p1", "name": "P1", "kind": "k8s_yaml"})
    page = client.get("/audit/").get_data(as_text=True)
    rows = page.split("<tbody>")[1]
    # newest first
    assert rows.index("project P1") < rows.index("cluster c1") < rows.index("sign_in")
    assert "sign_in_failed" in rows and "&#39;tester&#39;" in rows
    auth.logout()
    auth.login("admin")
    page = client.get("/audit/?user=admin").get_data(as_text=True)
    assert "sign_out" in page
    assert "sign_in_failed" not in page
    filtered = client.get("/audit/?object_type=cluster").get_data(as_text=True)
    assert "c1" in filtered.split("<tbody>")[1] and "P1" not in filtered.split("<tbody>")[1]
    by_name = client.get("/audit/?object=p1").get_data(as_text=True).split("<tbody>")[1]
    assert "P1" in by_name and "c1" not in by_name


def test_users_cli_creates_a_user_that_can_sign_in(app, runner, client):
    result = runner.invoke(
        args=["users", "create", "carol", "--role", "release_engineer", "--password-stdin"],
        input="long-enough-password\n",
    )
    assert result.exit_code == 0, result.output
    assert "created user carol (Release engineer)" in result.output
    response = client.post(
        "/auth/login", data={"username": "carol", "password": "long-enough-password"}
    )
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Release engineer" in page
    again = runner.invoke(
        args=["users", "create", "carol", "--role", "viewer", "--password-stdin"], input="x" * 10
    )
    assert again.exit_code != 0 and "exists" in again.output
    short = runner.invoke(
        args=["users", "create", "dan", "--role", "viewer", "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0 and "at least 8" in short.output


def test_login_refuses_wrong_password_with_422(client):
    response = client.post("/auth/login", data={"username": "admin", "password": "nope"})
    assert response.status_code == 422
    assert "Wrong username or password." in response.get_data(as_text=True)


def test_login_ignores_offsite_next(client):
    from tests.helpers import PASSWORD

    response = client.post(
        "/auth/login?next=//evil.example.com/x", data={"username": "admin", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"
