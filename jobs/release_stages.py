"""One stage of a release against the cluster: deploy, test, or wait for approval.

Each function writes the stage's (and each service's) status, messages and
log to the database as it goes, so the timeline shows progress live.
"""

from __future__ import annotations

import shlex

import requests

from jobs.kube.access import ClusterAccess, ClusterError
from jobs.kube.test_jobs import run_test_job
from jobs.release_deploy import deploy_stage, helm_deploy_stage
from webapp.extensions import db
from webapp.models import Release, ReleaseStage, ReleaseStatus, StageKind, StageStatus
from webapp.releases.services import schedule_approval_timeout

#: Seconds between looks at a rollout or a test Job.
POLL_INTERVAL = 0.2


def run_stage(release: Release, stage: ReleaseStage) -> StageStatus:
    """Run ``stage`` of ``release``; its final (or waiting) ``StageStatus``."""

    if stage.kind is StageKind.APPROVAL:
        return _wait_for_approval(release, stage)
    resumed = stage.status is StageStatus.RUNNING
    stage.begin()
    if resumed:  # the previous executor was lost mid-stage: run the whole stage again
        stage.services.clear()
        stage.append_log("Resumed: the previous run of this stage was lost; running it again.")
    db.session.commit()
    env = release.environment
    http_only = stage.kind is StageKind.TEST and (stage.settings or {}).get("mode") == "http"
    if env.cluster is None and not http_only:
        stage.end(StageStatus.FAILED, f"Environment {env.name} has no cluster attached.")
        db.session.commit()
        return stage.status
    access = env.cluster.access() if env.cluster is not None else None
    try:
        if stage.kind is StageKind.DEPLOY:
            status, message = deploy_stage(release, stage, access)
        elif stage.kind is StageKind.HELM_DEPLOY:
            status, message = helm_deploy_stage(release, stage, access)
        elif stage.kind is StageKind.TEST:
            status, message = run_test_stage(release, stage, access)
        else:
            status, message = StageStatus.FAILED, f"A {stage.kind.label} stage cannot run here."
    except ClusterError as exc:
        status, message = StageStatus.FAILED, str(exc)
    stage.append_log(message)
    stage.end(status, message)
    db.session.commit()
    return status


# --- approval -----------------------------------------------------------------


def _wait_for_approval(release: Release, stage: ReleaseStage) -> StageStatus:

    if stage.status is StageStatus.WAITING_APPROVAL:  # resumed by the reaper: still waiting
        return stage.status
    stage.begin()
    stage.move_to(StageStatus.WAITING_APPROVAL)
    release.move_to(ReleaseStatus.WAITING_APPROVAL)
    instructions = (stage.settings or {}).get("instructions")
    stage.append_log("Waiting for approval." + (f" {instructions}" if instructions else ""))
    # One commit: the wait, its deadline and its timeout job (never a wait without a clock).
    schedule_approval_timeout(release, stage)
    return stage.status


# --- test ---------------------------------------------------------------------


def run_test_stage(
    release: Release, stage: ReleaseStage, access: ClusterAccess | None
) -> StageStatus:
    """A Kubernetes Job in the target namespace, or HTTP checks; passes or fails."""

    settings = stage.settings or {}
    timeout = float(settings.get("timeout_seconds") or 600)
    if settings.get("mode") == "http":
        return _http_checks(stage, settings.get("checks") or [], timeout)

    def progress(line: str) -> None:
        stage.append_log(line)
        db.session.commit()

    command = shlex.split(settings.get("command") or "") or None
    stage.append_log(f"Running {settings.get('image')} {settings.get('command') or ''}".strip())
    db.session.commit()
    result = run_test_job(
        access,
        release.environment.namespace,
        image=settings.get("image", ""),
        command=command,
        timeout=timeout,
        name_prefix=f"slipway-release-{release.id}",
        on_progress=progress,
        poll_interval=POLL_INTERVAL,
    )
    if result.logs:
        stage.log = (stage.log or "") + result.logs.rstrip("\n") + "\n"
    status = StageStatus.PASSED if result.passed else StageStatus.FAILED
    return status, f"Job {result.job_name}: {result.message}"


def _http_checks(stage: ReleaseStage, checks: list[dict], timeout: float) -> StageStatus:

    failures = []
    for check in checks:
        url, expected = check["url"], int(check.get("status", 200))
        try:
            got = requests.get(url, timeout=min(timeout, 30), allow_redirects=False).status_code
        except requests.RequestException as exc:
            got = None
            stage.append_log(f"GET {url}: no answer ({exc.__class__.__name__}: {exc})")
        else:
            stage.append_log(f"GET {url}: {got} (expected {expected})")
        if got != expected:
            failures.append(url)
        db.session.commit()
    if failures:
        return StageStatus.FAILED, f"{len(failures)} of {len(checks)} HTTP checks failed"
    return StageStatus.PASSED, f"All {len(checks)} HTTP checks passed"
