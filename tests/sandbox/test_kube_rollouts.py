"""Deployment rollouts and crash back-off as kubectl and the Python client see them,
with the sandbox's clock moved forward instead of waiting."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, watch

from tests.helpers import wait_until


def ok(result):
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def deployment(name: str, image: str, replicas: int, surge=None, unavailable=None) -> dict:
    spec = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": name, "image": image}]},
        },
    }
    if surge is not None:
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
        }
    return {"metadata": {"name": name}, "spec": spec}


def progressing(apps, namespace, name) -> dict:
    conditions = apps.read_namespaced_deployment_status(name, namespace).status.conditions or []
    cond = next(c for c in conditions if c.type == "Progressing")
    return {"reason": cond.reason, "status": cond.status}


@pytest.mark.timeout(60)
def test_a_rollout_after_eleven_idle_minutes_succeeds(kube, kubectl, apps, namespace):
    apps.create_namespaced_deployment(namespace, deployment("web", "example.org/web:1", 2))
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s"))
    assert progressing(apps, namespace, "web") == {
        "reason": "NewReplicaSetAvailable",
        "status": "True",
    }

    kube.clock.advance(11 * 60)  # longer than progressDeadlineSeconds (600)

    ok(kubectl("set", "image", "-n", namespace, "deploy/web", "web=example.org/web:2"))
    result = kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s")
    assert result.returncode == 0, result.stderr
    assert 'deployment "web" successfully rolled out' in result.stdout
    assert progressing(apps, namespace, "web")["reason"] == "NewReplicaSetAvailable"


@pytest.mark.timeout(90)
def test_fix_forward_after_a_timed_out_rollout_keeps_availability(
    kube, kubectl, apps, namespace, api_client
):
    replicas, max_unavailable = 4, 1
    apps.create_namespaced_deployment(
        namespace, deployment("api", "example.org/api:1", replicas, surge=1, unavailable=1)
    )
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/api", "--timeout=20s"))

    seen: list[int] = []
    done = threading.Event()

    def record() -> None:
        apps_watch = client.AppsV1Api(api_client)
        stream = watch.Watch()
        for event in stream.stream(
            apps_watch.list_namespaced_deployment,
            namespace,
            field_selector="metadata.name=api",
            timeout_seconds=60,
        ):
            seen.append(event["object"].status.available_replicas or 0)
            if done.is_set():
                stream.stop()

    watcher = threading.Thread(target=record, daemon=True)
    watcher.start()

    ok(kubectl("set", "image", "-n", namespace, "deploy/api", "api=example.org/api:doesnotexist"))

    def stuck():
        rs = apps.list_namespaced_replica_set(namespace).items
        sizes = sorted((r.spec.template.spec.containers[0].image, r.spec.replicas) for r in rs)
        status = apps.read_namespaced_deployment_status("api", namespace).status
        counts = (status.replicas, status.updated_replicas, status.available_replicas)
        return sizes == [("example.org/api:1", 3), ("example.org/api:doesnotexist", 2)] and (
            counts == (5, 2, 3)
        )

    # maxSurge 1 + maxUnavailable 1: the broken ReplicaSet grows to 2, the old keeps 3;
    # once the status says so, nothing progresses any more and the deadline can pass.
    wait_until(stuck)
    kube.clock.advance(601)
    wait_until(lambda: progressing(apps, namespace, "api")["reason"] == "ProgressDeadlineExceeded")
    failed = kubectl("rollout", "status", "-n", namespace, "deploy/api", "--timeout=10s")
    assert failed.returncode == 1
    assert 'deployment "api" exceeded its progress deadline' in failed.stderr

    ok(kubectl("set", "image", "-n", namespace, "deploy/api", "api=example.org/api:3"))
    result = kubectl("rollout", "status", "-n", namespace, "deploy/api", "--timeout=30s")
    assert result.returncode == 0, result.stderr
    assert 'deployment "api" successfully rolled out' in result.stdout
    done.set()
    apps.patch_namespaced_deployment(
        "api", namespace, {"metadata": {"annotations": {"test/end": "1"}}}
    )
    watcher.join(timeout=10)

    assert seen, "the watch saw the rollout"
    assert min(seen) >= replicas - max_unavailable, seen
    final = {
        r.spec.template.spec.containers[0].image: r.spec.replicas
        for r in apps.list_namespaced_replica_set(namespace).items
    }
    assert final == {
        "example.org/api:1": 0,
        "example.org/api:doesnotexist": 0,
        "example.org/api:3": replicas,
    }


@pytest.mark.timeout(60)
def test_rolling_update_surges_at_most_max_surge(kubectl, apps, namespace, api_client):
    apps.create_namespaced_deployment(
        namespace, deployment("surge", "example.org/s:1", 4, surge=1, unavailable=0)
    )
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/surge", "--timeout=20s"))
    ok(kubectl("set", "image", "-n", namespace, "deploy/surge", "surge=example.org/s:2"))
    totals = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rs = apps.list_namespaced_replica_set(namespace).items
        totals.append(sum(r.spec.replicas for r in rs))
        deploy = apps.read_namespaced_deployment_status("surge", namespace)
        status = deploy.status
        current = status.observed_generation >= deploy.metadata.generation
        counts = (status.updated_replicas, status.available_replicas, status.replicas)
        if current and counts == (4, 4, 4):
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the rollout did not finish")
    assert max(totals) == 5, "replicas + maxSurge pods at most, and it does surge"


@pytest.mark.timeout(60)
def test_crash_loop_back_off_grows_to_five_minutes(kube, core, namespace):
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "crashy"},
            "spec": {"containers": [{"name": "app", "image": "example.org/app:crashloop"}]},
        },
    )

    def state():
        pod = core.read_namespaced_pod("crashy", namespace)
        statuses = pod.status.container_statuses or []
        if not statuses or not statuses[0].state.waiting:
            return None
        waiting = statuses[0].state.waiting
        if waiting.reason != "CrashLoopBackOff":
            return None
        return statuses[0].restart_count, waiting.message.split(" restarting")[0]

    assert wait_until(state) == (1, "back-off 10s")
    kube.clock.advance(10)
    assert wait_until(lambda: state() if state()[0] == 2 else None) == (2, "back-off 20s")
    kube.clock.advance(20 + 40)
    assert wait_until(lambda: state() if state()[0] == 4 else None) == (4, "back-off 1m20s")
    kube.clock.advance(80 + 160)
    assert wait_until(lambda: state() if state()[0] == 6 else None) == (6, "back-off 5m0s")
    kube.clock.advance(300)
    assert wait_until(lambda: state() if state()[0] == 7 else None) == (7, "back-off 5m0s")


@pytest.mark.timeout(60)
def test_paused_deployment_does_not_roll_out_until_resumed(kubectl, apps, namespace):
    apps.create_namespaced_deployment(namespace, deployment("calm", "example.org/calm:1", 2))
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/calm", "--timeout=20s"))
    ok(kubectl("rollout", "pause", "-n", namespace, "deploy/calm"))
    ok(kubectl("set", "image", "-n", namespace, "deploy/calm", "calm=example.org/calm:2"))

    wait_until(lambda: progressing(apps, namespace, "calm")["reason"] == "DeploymentPaused")
    assert progressing(apps, namespace, "calm")["status"] == "Unknown"
    images = [
        r.spec.template.spec.containers[0].image
        for r in apps.list_namespaced_replica_set(namespace).items
    ]
    assert images == ["example.org/calm:1"], "no new ReplicaSet while paused"

    ok(kubectl("rollout", "resume", "-n", namespace, "deploy/calm"))
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/calm", "--timeout=20s"))
    images = {
        r.spec.template.spec.containers[0].image: r.spec.replicas
        for r in apps.list_namespaced_replica_set(namespace).items
    }
    assert images == {"example.org/calm:1": 0, "example.org/calm:2": 2}


@pytest.mark.timeout(60)
def test_min_ready_seconds_delays_availability(kube, apps, namespace):
    body = deployment("slow", "example.org/slow:1", 2)
    body["spec"]["minReadySeconds"] = 30
    apps.create_namespaced_deployment(namespace, body)

    def counts():
        status = apps.read_namespaced_deployment_status("slow", namespace).status
        return status.ready_replicas or 0, status.available_replicas or 0

    wait_until(lambda: counts()[0] == 2)
    assert counts() == (2, 0), "ready, but not yet for minReadySeconds"
    kube.clock.advance(31)
    wait_until(lambda: counts() == (2, 2))


@pytest.mark.timeout(60)
def test_revision_history_limit_prunes_old_replicasets(kubectl, apps, namespace):
    body = deployment("hist", "example.org/hist:1", 1)
    body["spec"]["revisionHistoryLimit"] = 1
    apps.create_namespaced_deployment(namespace, body)
    for tag in ("2", "3", "4"):
        ok(kubectl("rollout", "status", "-n", namespace, "deploy/hist", "--timeout=20s"))
        ok(kubectl("set", "image", "-n", namespace, "deploy/hist", f"hist=example.org/hist:{tag}"))
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/hist", "--timeout=20s"))

    def pruned():
        rs = apps.list_namespaced_replica_set(namespace).items
        return sorted(r.spec.template.spec.containers[0].image for r in rs)

    wait_until(lambda: pruned() == ["example.org/hist:3", "example.org/hist:4"])
    history = ok(kubectl("rollout", "history", "-n", namespace, "deploy/hist"))
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["3", "4"]
