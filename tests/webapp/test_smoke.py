def test_login_and_browse(client, auth):
    assert client.get("/").status_code == 302
    response = auth.login()
    assert response.status_code == 302
    for url in [
        "/",
        "/catalog/",
        "/catalog/clusters/",
        "/catalog/registries/",
        "/catalog/projects/",
        "/jobs/",
        "/audit/",
    ]:
        page = client.get(url)
        assert page.status_code == 200, (url, page.data[:500])
