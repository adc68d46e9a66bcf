"""Delivery metrics from seeded releases, against numbers computed by hand."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tests.helpers import PASSWORD, PASSWORD_HASH
from tests.webapp.version_fixtures import text
from webapp.extensions import db
from webapp.models import (
    Environment,
    Project,
    ProjectKind,
    Release,
    ReleaseStage,
    ReleaseStatus,
    Role,
    StageKind,
    StageStatus,
    User,
    Version,
    VersionStatus,
    Workflow,
)

T0 = datetime(2026, 11, 1)
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
def seeded(app):
    return seed(app)


def seed(app):
    """Releases of one week in prod (and one before it, one in staging) with known times."""
    with app.app_context():
        project = Project(key="m", name="Metrics", kind=ProjectKind.K8S_YAML)
        prod = Environment(project=project, name="prod", namespace="p", production=True)
        staging = Environment(project=project, name="staging", namespace="s")
        workflow = Workflow(project=project, environment=prod, name="prod")
        versions = {
            name: Version(
                project=project, name=name, status=VersionStatus.SUCCESS, created_at=created
            )
            for name, created in {
                "va": T0,
                "vb": T0 + D,
                "vc": T0 + 2 * D,
                "vd": T0 + 3 * D,
                "old": T0 - 20 * D,
            }.items()
        }
        db.session.add_all([project, prod, staging, workflow, *versions.values()])
        ids = {}

        def release(key, version, status, ended, env=prod, deploy=None, wait=None, **extra):
            """``deploy``: (status, ended); ``wait``: (status, started, ended)."""
            row = Release(
                project=project,
                workflow=workflow,
                environment=env,
                version=versions[version],
                status=status,
                created_at=ended - 10 * H,
                started_at=ended - 10 * H,
                ended_at=ended,
                **extra,
            )
            position = 1
            if deploy:
                row.stages.append(
                    ReleaseStage(
                        position=position,
                        kind=StageKind.DEPLOY,
                        name="deploy",
                        status=deploy[0],
                        started_at=deploy[1] - H / 6,
                        ended_at=deploy[1],
                    )
                )
                position += 1
            if wait:
                row.stages.append(
                    ReleaseStage(
                        position=position,
                        kind=StageKind.APPROVAL,
                        name="sign-off",
                        status=wait[0],
                        started_at=wait[1],
                        ended_at=wait[2],
                    )
                )
            db.session.add(row)
            db.session.flush()
            ids[key] = row.id
            return row

        P, F, R = StageStatus.PASSED, StageStatus.FAILED, StageStatus.REJECTED
        release("old", "old", ReleaseStatus.PASSED, T0 - 5 * D, deploy=(P, T0 - 5 * D))
        release(
            "r1", "va", ReleaseStatus.PASSED, T0 + 3 * H, deploy=(P, T0 + 2 * H),
            wait=(P, T0 + 2 * H, T0 + 2.5 * H),
        )  # fmt: skip
        release("r2", "vb", ReleaseStatus.FAILED, T0 + D + H, deploy=(F, T0 + D + H))
        release(
            "r3", "vb", ReleaseStatus.PASSED, T0 + D + 7 * H, deploy=(P, T0 + D + 5 * H),
            wait=(P, T0 + D + 5 * H, T0 + D + 7 * H),
        )  # fmt: skip
        r4 = release(
            "r4", "vc", ReleaseStatus.PASSED, T0 + 2 * D + 2 * H, deploy=(P, T0 + 2 * D + H),
            wait=(P, T0 + 2 * D + H, T0 + 2 * D + 2 * H),
        )  # fmt: skip
        release(
            "r5", "va", ReleaseStatus.PASSED, T0 + 2 * D + 4 * H, deploy=(P, T0 + 2 * D + 4 * H),
            is_rollback=True, rollback_of=r4,
        )  # fmt: skip
        release(
            "r6", "vd", ReleaseStatus.REJECTED, T0 + 3 * D + 4 * H,
            wait=(R, T0 + 3 * D, T0 + 3 * D + 4 * H),
        )  # fmt: skip
        release("r7", "vd", ReleaseStatus.PASSED, T0 + 4 * D, env=staging, deploy=(P, T0 + 4 * D))
        db.session.commit()
        return project.id, prod.id, staging.id, ids


def _value(html: str, metric: str, attr: str) -> float:
    found = re.search(rf'data-metric="{metric}"[^>]*?data-{attr}="([^"]+)"', html)
    assert found, (metric, attr)
    return float(found.group(1))


def test_metrics_match_the_numbers_computed_by_hand(app, client, auth, seeded):
    auth.login("viewer")
    check_the_week(client, seeded)


def check_the_week(client, seeded) -> None:
    project_id, prod_id, _, ids = seeded
    response = client.get(
        f"/metrics/projects/{project_id}?environment_id={prod_id}&start=2026-11-01&end=2026-11-07"
    )
    assert response.status_code == 200
    html = text(response)
    # Deployments: r1, r3, r4, r5 passed in the week (not "old" before it, not r7 in staging).
    assert _value(html, "deployments", "value") == 4
    assert "4 deployments, 0.57 per day" in html
    # Lead time: r1 2 h (va at T0), r3 5 h (vb at T0+1d), r4 1 h; r5 is a rollback.
    assert _value(html, "lead", "p50") == pytest.approx(2 * 3600, abs=1)
    assert _value(html, "lead", "mean") == pytest.approx(8 / 3 * 3600, abs=1)
    assert "median 2 h, mean 2 h 40 min (3 releases)" in html
    # Change failure rate: r2 failed and r4 was rolled back, of r1..r5.
    assert _value(html, "failure-rate", "failed") == 2
    assert _value(html, "failure-rate", "total") == 5
    assert "40 % (2 of 5)" in html
    # Time to restore: r2 (T0+1d+1h) -> r3 (T0+1d+7h) 6 h; r4 (T0+2d+2h) -> r5 (+4h) 2 h.
    assert _value(html, "restore", "p50") == pytest.approx(4 * 3600, abs=1)
    assert _value(html, "restore", "mean") == pytest.approx(4 * 3600, abs=1)
    # Approval waits: 0.5 h, 2 h, 1 h and 4 h (r6 rejected): p50 1.5 h, p90 3.4 h.
    assert _value(html, "approval", "p50") == pytest.approx(1.5 * 3600, abs=1)
    assert _value(html, "approval", "p90") == pytest.approx(3.4 * 3600, abs=1)
    assert "p50 1 h 30 min, p90 3 h 24 min (4 decisions)" in html
    # Per day, as a table and as SVG bars with their titles.
    row = r'data-day="(2026-11-0\d)"><td>[^<]+</td><td>(\d+)</td><td>(\d+)</td>'
    days = {day: (int(passed), int(failed)) for day, passed, failed in re.findall(row, html)}
    assert days == {
        "2026-11-01": (1, 0),
        "2026-11-02": (1, 1),
        "2026-11-03": (2, 0),
        "2026-11-04": (0, 0),
        "2026-11-05": (0, 0),
        "2026-11-06": (0, 0),
        "2026-11-07": (0, 0),
    }
    assert "<title>2026-11-03: 2 passed, 0 failed</title>" in html
    assert html.count('<rect class="bar-passed"') == 3  # three days with passed releases
    assert html.count('<rect class="bar-failed"') == 1
    assert f'data-release="{ids["r5"]}"' in html and f'data-release="{ids["old"]}"' not in html
    assert "style=" not in html and "<script>" not in html


def test_another_environment_and_period(app, client, auth, seeded):
    project_id, _, staging_id, _ = seeded
    auth.login("viewer")
    html = text(
        client.get(
            f"/metrics/projects/{project_id}?environment_id={staging_id}"
            "&start=2026-11-05&end=2026-11-05"
        )
    )
    assert _value(html, "deployments", "value") == 1
    assert "1 deployment, 1.00 per day" in html and "(1 day)" in html
    assert _value(html, "lead", "p50") == pytest.approx(24 * 3600, abs=1)  # vd at T0+3d


def test_constant_number_of_queries(app, client, auth, seeded):
    from sqlalchemy import event

    project_id, prod_id, _, _ = seeded
    auth.login("viewer")
    url = f"/metrics/projects/{project_id}?environment_id={prod_id}&start=2026-10-01&end=2026-11-30"
    counts = []
    with app.app_context():
        engine = db.engine
    statements = []

    def count(*args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        client.get(url)
        counts.append(len(statements))
        statements.clear()
        with app.app_context():
            for n in range(5):  # more releases: the same number of queries
                release = db.session.get(Release, seeded[3]["r1"])
                db.session.add(
                    Release(
                        project_id=release.project_id,
                        workflow_id=release.workflow_id,
                        environment_id=release.environment_id,
                        version_id=release.version_id,
                        status=ReleaseStatus.FAILED,
                        ended_at=T0 + 5 * D + n * H,
                    )
                )
            db.session.commit()
        statements.clear()
        client.get(url)
        counts.append(len(statements))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert counts[0] == counts[1] and counts[0] <= 8


@pytest.mark.parametrize(
    "query",
    [
        "start=2026-11-07&end=2026-11-01",
        "start=2020-01-01&end=2026-11-01",
        "start=yesterday&end=2026-11-01",
        "environment_id=999&start=2026-11-01&end=2026-11-02",
        "environment_id=x",
    ],
)
def test_bad_periods_answer_422(app, client, auth, seeded, query):
    auth.login("viewer")
    assert client.get(f"/metrics/projects/{seeded[0]}?{query}").status_code == 422


@pytest.mark.slow
def test_the_same_numbers_on_postgresql(postgres_app):
    from flask_migrate import upgrade

    app = postgres_app()
    with app.app_context():
        upgrade()
        assert db.engine.dialect.name == "postgresql"
        db.session.add(User(username="viewer", role=Role.VIEWER, password_hash=PASSWORD_HASH))
        db.session.commit()
    seeded = seed(app)
    client = app.test_client()
    client.post("/auth/login", data={"username": "viewer", "password": PASSWORD})
    check_the_week(client, seeded)


def test_the_environment_page_links_its_metrics_over_the_last_30_days(app, client, auth, seeded):
    project_id, prod_id, _, _ = seeded
    auth.login("viewer")
    page = text(client.get(f"/catalog/environments/{prod_id}"))
    link = f"/metrics/projects/{project_id}?environment_id={prod_id}"
    assert f'href="{link}">Delivery metrics of prod</a>' in page
    response = client.get(link)
    assert response.status_code == 200
    assert "(30 days)" in text(response)  # the default period, ending today
