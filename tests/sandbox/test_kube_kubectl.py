"""kubectl, unchanged, against the sandbox cluster."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import wait_until

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: example.org/shop/web:1
          ports:
            - containerPort: 8080
          env:
            - {name: MODE, value: blue}
            - {name: KEEP, value: "yes"}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - port: 80
      targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: hello
"""


def ok(result):
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


@pytest.mark.timeout(90)
def test_apply_rollout_set_image_and_delete(kubectl, namespace, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(APP)
    out = ok(kubectl("apply", "-n", namespace, "--validate=false", "-f", str(manifest)))
    assert "deployment.apps/web created" in out
    assert "service/web created" in out
    assert "configmap/web-config created" in out
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s"))

    deployed = yaml.safe_load(ok(kubectl("get", "deploy", "web", "-n", namespace, "-o", "yaml")))
    assert deployed["kind"] == "Deployment"
    assert deployed["status"]["readyReplicas"] == 2
    assert deployed["status"]["observedGeneration"] == deployed["metadata"]["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in deployed["metadata"]["annotations"]

    # Re-apply a changed file: client-side apply sends a strategic merge patch;
    # the env list merges by name, the dropped entry goes, the template changes.
    manifest.write_text(
        APP.replace("value: blue", "value: green").replace(
            '            - {name: KEEP, value: "yes"}\n', ""
        )
    )
    out = ok(kubectl("apply", "-n", namespace, "--validate=false", "-f", str(manifest)))
    assert "deployment.apps/web configured" in out
    assert "configmap/web-config unchanged" in out
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s"))
    deployed = json.loads(ok(kubectl("get", "deploy", "web", "-n", namespace, "-o", "json")))
    env = deployed["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "green"}]
    assert deployed["metadata"]["generation"] == 2

    ok(kubectl("set", "image", "-n", namespace, "deploy/web", "web=example.org/shop/web:2"))
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s"))
    pods = json.loads(ok(kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "json")))
    images = {p["spec"]["containers"][0]["image"] for p in pods["items"]}
    assert images == {"example.org/shop/web:2"}, "old pods must be gone after the rollout"
    assert all(p["status"]["phase"] == "Running" for p in pods["items"])
    assert len(pods["items"]) == 2

    table = ok(kubectl("get", "deploy", "-n", namespace))
    assert "web" in table and "2/2" in table

    out = ok(kubectl("delete", "-n", namespace, "-f", str(manifest)))
    assert 'deployment.apps "web" deleted' in out
    assert "NotFound" in kubectl("get", "deploy", "web", "-n", namespace).stderr
    wait_until(lambda: '"items": []' in ok(kubectl("get", "pods", "-n", namespace, "-o", "json")))


@pytest.mark.timeout(60)
def test_rollout_of_an_image_that_cannot_be_pulled_never_succeeds(kubectl, namespace, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(APP)
    ok(kubectl("apply", "-n", namespace, "--validate=false", "-f", str(manifest)))
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s"))

    ok(
        kubectl(
            "set", "image", "-n", namespace, "deploy/web", "web=example.org/shop/web:doesnotexist"
        )
    )
    status = kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=3s")
    assert status.returncode != 0
    assert "successfully rolled out" not in status.stdout
    assert "timed out" in status.stderr

    pods = json.loads(ok(kubectl("get", "pods", "-n", namespace, "-o", "json")))["items"]
    broken = [p for p in pods if p["spec"]["containers"][0]["image"].endswith(":doesnotexist")]
    # replicas 2, maxSurge 25% (rounds up to 1), maxUnavailable 25% (rounds down to 0):
    # one new pod may surge, and no old pod goes while it is not available.
    assert len(broken) == 1
    for pod in broken:
        assert pod["status"]["phase"] == "Pending"
        waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
        assert waiting["reason"] == "ImagePullBackOff"
        assert 'Back-off pulling image "example.org/shop/web:doesnotexist"' in waiting["message"]
        assert "not found" in waiting["message"]
    running = [p for p in pods if p not in broken]
    assert len(running) == 2, "the old pods keep serving while the new ones cannot pull"
    assert all(p["status"]["phase"] == "Running" for p in running)
    events = ok(kubectl("get", "events", "-n", namespace))
    assert "Failed to pull image" in events


@pytest.mark.timeout(60)
def test_server_side_apply(kubectl, namespace, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(APP)
    out = ok(
        kubectl("apply", "--server-side", "-n", namespace, "--validate=false", "-f", str(manifest))
    )
    assert "deployment.apps/web serverside-applied" in out
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s"))
    deployed = json.loads(
        ok(kubectl("get", "deploy", "web", "-n", namespace, "-o", "json", "--show-managed-fields"))
    )
    managers = {(m["manager"], m["operation"]) for m in deployed["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers

    manifest.write_text(
        APP.replace("replicas: 2", "replicas: 3").replace(
            '            - {name: KEEP, value: "yes"}\n', ""
        )
    )
    ok(kubectl("apply", "--server-side", "-n", namespace, "--validate=false", "-f", str(manifest)))
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s"))
    deployed = json.loads(ok(kubectl("get", "deploy", "web", "-n", namespace, "-o", "json")))
    assert deployed["status"]["readyReplicas"] == 3
    env = deployed["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "blue"}], "a field the manager stopped applying goes"


@pytest.mark.timeout(60)
def test_jobs_logs_and_crashloop(kubectl, namespace, tmp_path):
    manifest = tmp_path / "jobs.yaml"
    jobs = [("passes", "echo ok"), ("breaks", "exit 1")]
    manifest.write_text(
        "---\n".join(
            yaml.safe_dump(
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": name},
                    "spec": {
                        "backoffLimit": 0,
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [
                                    {
                                        "name": "check",
                                        "image": "busybox:1.36",
                                        "command": ["sh", "-c", cmd],
                                    }
                                ],
                            }
                        },
                    },
                }
            )
            for name, cmd in jobs
        )
    )
    ok(kubectl("apply", "-n", namespace, "--validate=false", "-f", str(manifest)))
    ok(kubectl("wait", "-n", namespace, "--for=condition=complete", "job/passes", "--timeout=10s"))
    ok(kubectl("wait", "-n", namespace, "--for=condition=failed", "job/breaks", "--timeout=10s"))
    assert "running: sh -c echo ok" in ok(kubectl("logs", "-n", namespace, "job/passes"))
    assert "exit code 1" in ok(kubectl("logs", "-n", namespace, "job/breaks"))

    crashy = APP.split("---")[0].replace("name: web\n  labels", "name: crashy\n  labels")
    crashy = crashy.replace("example.org/shop/web:1", "example.org/crashloop:1")
    ok(kubectl("apply", "-n", namespace, "--validate=false", "-f", "-", stdin=crashy))

    def crashing():
        pods = json.loads(ok(kubectl("get", "pods", "-n", namespace, "-o", "json")))["items"]
        return [
            p
            for p in pods
            if p["metadata"]["name"].startswith("crashy-")
            and p["status"].get("phase") == "Running"
            and p["status"]["containerStatuses"][0]["state"].get("waiting")
        ]

    pods = wait_until(crashing)
    status = pods[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert "back-off 10s restarting failed container=web" in status["state"]["waiting"]["message"]
    assert status["restartCount"] > 0 and status["ready"] is False
    assert "CrashLoopBackOff" in ok(kubectl("get", "pods", "-n", namespace))


@pytest.mark.timeout(60)
def test_statefulset_and_daemonset_rollouts(kubectl, namespace):
    template = {
        "metadata": {"labels": {"app": "db"}},
        "spec": {"containers": [{"name": "db", "image": "example.org/db:1"}]},
    }
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": template,
        },
    }
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "db"}}, "template": template},
    }
    ok(
        kubectl(
            "apply",
            "-n",
            namespace,
            "--validate=false",
            "-f",
            "-",
            stdin=yaml.safe_dump_all([sts, ds]),
        )
    )
    ok(kubectl("rollout", "status", "-n", namespace, "statefulset/db", "--timeout=20s"))
    ok(kubectl("rollout", "status", "-n", namespace, "daemonset/agent", "--timeout=20s"))
    ok(kubectl("set", "image", "-n", namespace, "statefulset/db", "db=example.org/db:2"))
    ok(kubectl("set", "image", "-n", namespace, "daemonset/agent", "db=example.org/db:2"))
    ok(kubectl("rollout", "status", "-n", namespace, "statefulset/db", "--timeout=20s"))
    ok(kubectl("rollout", "status", "-n", namespace, "daemonset/agent", "--timeout=20s"))
    pods = json.loads(ok(kubectl("get", "pods", "-n", namespace, "-o", "json")))["items"]
    names = {p["metadata"]["name"] for p in pods}
    assert {"db-0", "db-1"} <= names
    assert any(n.startswith("agent-") for n in names)
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"example.org/db:2"}
    assert len(pods) == 3


@pytest.mark.timeout(60)
def test_rollout_undo_returns_to_the_previous_replicaset(kubectl, namespace, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(APP)
    ok(kubectl("apply", "-n", namespace, "--validate=false", "-f", str(manifest)))
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s"))
    ok(kubectl("set", "image", "-n", namespace, "deploy/web", "web=example.org/shop/web:2"))
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s"))
    ok(kubectl("rollout", "undo", "-n", namespace, "deploy/web"))
    ok(kubectl("rollout", "status", "-n", namespace, "deploy/web", "--timeout=20s"))
    sets = json.loads(ok(kubectl("get", "rs", "-n", namespace, "-o", "json")))["items"]
    assert len(sets) == 2, "undo reuses the first ReplicaSet instead of making a third"
    active = [rs for rs in sets if rs["spec"]["replicas"] == 2]
    assert [rs["spec"]["template"]["spec"]["containers"][0]["image"] for rs in active] == [
        "example.org/shop/web:1"
    ]
    assert active[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    history = ok(kubectl("rollout", "history", "-n", namespace, "deploy/web"))
    assert "2 " in history and "3 " in history


def test_system_namespaces_cannot_be_deleted(kubectl):
    refused = kubectl("delete", "namespace", "default")
    assert refused.returncode != 0
    assert "this namespace may not be deleted" in refused.stderr
    assert "default" in ok(kubectl("get", "namespaces"))


@pytest.mark.timeout(60)
def test_server_dry_run_and_diff_change_nothing(kubectl, namespace, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(APP)
    out = ok(kubectl("apply", "-n", namespace, "--dry-run=server", "-f", str(manifest)))
    assert "created (server dry run)" in out
    assert "NotFound" in kubectl("get", "deploy", "web", "-n", namespace).stderr
    ok(kubectl("apply", "-n", namespace, "--validate=false", "-f", str(manifest)))
    manifest.write_text(APP.replace("replicas: 2", "replicas: 4"))
    diff = kubectl("diff", "-n", namespace, "-f", str(manifest))
    assert diff.returncode == 1 and "+  replicas: 4" in diff.stdout
    ok(kubectl("delete", "-n", namespace, "deploy/web", "--dry-run=server"))
    live = json.loads(ok(kubectl("get", "deploy", "web", "-n", namespace, "-o", "json")))
    assert live["spec"]["replicas"] == 2 and live["metadata"]["generation"] == 1
