"""The README's curl example, run as written against the served app and its worker process."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox.images import push_demo_image
from tests.webapp.version_fixtures import make_version_catalog
from webapp.extensions import db
from webapp.models import (
    ApiToken,
    Environment,
    Release,
    StageKind,
    User,
    Version,
    Workflow,
    WorkflowStage,
)

pytestmark = pytest.mark.browser  # the live app and a worker process, like the browser tests

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    """The shell block of the README's JSON API section, up to the approval by another user."""
    section = README.read_text().split("## JSON API", 1)[1]
    script = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return script.split("# Another user", 1)[0]


@pytest.mark.timeout(120)
def test_the_readme_example_creates_a_version_waits_and_starts_a_release(
    live_app, registry, tmp_path
):
    push_demo_image(registry.address, "readme/cart", "1.0", layer_sizes=(256,))
    cat = make_version_catalog(
        live_app, registry.address, {"cart": {"cart": f"{registry.address}/readme/cart:1.0"}}
    )
    with live_app.app_context():
        env = db.session.get(Environment, cat.environment_id)
        for name in ("first", "second"):  # the example starts workflow 2
            workflow = Workflow(project_id=cat.project_id, environment=env, name=name)
            workflow.stages.append(
                WorkflowStage(position=1, kind=StageKind.APPROVAL, name="Go", settings={})
            )
            db.session.add(workflow)
        tester = db.session.scalar(select(User).where(User.username == "admin"))
        token, secret = ApiToken.issue(
            tester, "ci", ["read", "versions:write", "releases:write"], None
        )
        db.session.add(token)
        db.session.commit()
    assert (cat.project_id, cat.environment_id, cat.registry_id) == (1, 1, 1)

    script = readme_example().replace("SLIPWAY=https://slipway.example.com", "")
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env={
            **os.environ,
            "SLIPWAY": live_app.config["LIVE_URL"],
            "SLIPWAY_TOKEN": secret,
            "CI_PIPELINE_ID": "42",
        },
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert '"status":"queued"' in result.stdout.replace(" ", "")
    with live_app.app_context():
        version = db.session.scalar(select(Version))
        assert version.name == "v1.4.0" and version.status.value == "success"
        assert version.images[0].target_ref == f"{registry.address}/prod/cart:1.4.0"
        assert version.images[0].target_digest == version.images[0].source_digest
        release = db.session.scalar(select(Release))
        assert (release.version_id, release.workflow_id) == (version.id, 2)
