"""The simulated kubelet: moves pods through pulling, running, crashing or completing."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sandbox.kube.api import Api
from sandbox.kube.clock import STAMP_FORMAT
from sandbox.kube.config import SandboxConfig
from sandbox.kube.events import record_event
from sandbox.kube.images import ImageChecker, full_reference
from sandbox.kube.objects import PODS, pod_ready, set_status

log = logging.getLogger(__name__)


@dataclass
class PodRuntime:
    """What the kubelet remembers about one pod (not persisted)."""

    ready_at: float
    outcome: str = ""  # ok | pull | crash | succeed | fail
    message: str = ""
    bad_container: str = ""
    stamps: dict[str, str] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)

    def stamp(self, state: str, now: str) -> str:
        """When this pod first reached ``state`` (an API timestamp; ``now`` if not yet)."""
        return self.stamps.setdefault(state, now)


# The kubelet's container restart back-off: 10 s, doubling after each restart, at most 5 min.
BACKOFF_INITIAL, BACKOFF_MAX = 10.0, 300.0


def crash_backoff(elapsed: float) -> tuple[int, float, float]:
    """A crash-looping container ``elapsed`` s after its first crash:
    (restartCount, the back-off now running, seconds since the last crash)."""
    restarts, delay, at = 1, BACKOFF_INITIAL, 0.0
    while delay < BACKOFF_MAX and at + delay <= elapsed:
        at += delay
        restarts += 1
        delay = min(delay * 2, BACKOFF_MAX)
    if delay >= BACKOFF_MAX and elapsed >= at + delay:
        steps = int((elapsed - at) // delay)
        at += steps * delay
        restarts += steps
    return restarts, delay, elapsed - at


def go_duration(seconds: float) -> str:
    """A whole-second duration the way Go prints it: ``10s``, ``1m20s``, ``5m0s``."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def runs_to_completion(pod: dict) -> bool:
    return pod.get("spec", {}).get("restartPolicy", "Always") != "Always"


def command_line(pod: dict) -> str:
    """All containers' command + args, joined, for the Job rule and the log."""
    parts = []
    for container in pod.get("spec", {}).get("containers") or []:
        parts += [str(p) for p in (container.get("command") or []) + (container.get("args") or [])]
    return " ".join(parts)


class Kubelet:
    """Drives every pod's status from Pending to its simulated outcome."""

    def __init__(self, api: Api, config: SandboxConfig, images: ImageChecker) -> None:
        self.api = api
        self.config = config
        self.images = images
        self.runtime: dict[str, PodRuntime] = {}

    def schedule(self, uid: str, delay: float) -> None:
        """The pod with ``uid`` becomes ready (or fails) ``delay`` seconds from now."""
        self.runtime[uid] = PodRuntime(self.api.clock.monotonic() + delay)

    def tick(self, pods: list[dict]) -> None:
        live = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            live.add(uid)
            try:
                self._sync(pod)
            except Exception:  # noqa: BLE001 - one odd pod must not stop the others
                log.exception("sandbox kubelet: pod %s", pod["metadata"]["name"])
        for uid in set(self.runtime) - live:
            del self.runtime[uid]

    def _job_fails(self, pod: dict) -> bool:
        line = command_line(pod)
        pattern = self.config.job_fail_pattern
        return "exit 1" in line or bool(pattern and pattern in line)

    def _decide(self, pod: dict, rt: PodRuntime) -> None:
        for container in pod["spec"].get("containers") or []:
            message = self.images.pull_error(container.get("image", ""))
            if message:
                rt.outcome, rt.message, rt.bad_container = "pull", message, container["name"]
                return
        crash = next(
            (
                c["name"]
                for c in pod["spec"].get("containers") or []
                if self.images.crashes(c.get("image", ""))
            ),
            "",
        )
        if runs_to_completion(pod):
            rt.outcome = "fail" if crash or self._job_fails(pod) else "succeed"
        elif crash:
            rt.outcome, rt.bad_container = "crash", crash
        else:
            rt.outcome = "ok"

    def _runtime(self, pod: dict) -> PodRuntime:
        uid = pod["metadata"]["uid"]
        rt = self.runtime.get(uid)
        if rt is None:
            if pod_ready(pod):
                rt = PodRuntime(0.0, outcome="ok")
                rt.reported |= {"scheduled", "ok"}
            else:
                delay = (
                    self.config.job_seconds
                    if runs_to_completion(pod)
                    else self.config.rollout_seconds
                )
                rt = PodRuntime(self.api.clock.monotonic() + delay)
            self.runtime[uid] = rt
        return rt

    def _event(
        self,
        pod: dict,
        rt: PodRuntime,
        key: str,
        kind: str,
        reason: str,
        msg: str,
        component: str = "kubelet",
    ) -> None:
        if key not in rt.reported:
            rt.reported.add(key)
            record_event(self.api, PODS, pod, kind, reason, msg, component)

    def _sync(self, pod: dict) -> None:
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return
        rt = self._runtime(pod)
        meta = pod["metadata"]
        ns, name = meta["namespace"], meta["name"]
        if not rt.outcome:
            self._decide(pod, rt)
        self._event(
            pod,
            rt,
            "scheduled",
            "Normal",
            "Scheduled",
            f"Successfully assigned {ns}/{name} to sandbox-node",
            "default-scheduler",
        )
        if self.api.clock.monotonic() < rt.ready_at:
            status = self._status(pod, rt, "creating")
        else:
            status = self._status(pod, rt, rt.outcome)
            self._report(pod, rt)
        set_status(self.api, PODS, ns, name, status)

    def _report(self, pod: dict, rt: PodRuntime) -> None:
        containers = pod["spec"].get("containers") or []
        if rt.outcome == "pull":
            image = next(c["image"] for c in containers if c["name"] == rt.bad_container)
            self._event(pod, rt, "pulling", "Normal", "Pulling", f'Pulling image "{image}"')
            self._event(
                pod,
                rt,
                "failed",
                "Warning",
                "Failed",
                f'Failed to pull image "{image}": {rt.message}',
            )
            self._event(
                pod, rt, "backoff", "Normal", "BackOff", f'Back-off pulling image "{image}"'
            )
            return
        for c in containers:
            self._event(
                pod,
                rt,
                f"pulled-{c['name']}",
                "Normal",
                "Pulled",
                f'Container image "{c["image"]}" already present on machine',
            )
            self._event(
                pod,
                rt,
                f"started-{c['name']}",
                "Normal",
                "Started",
                f"Started container {c['name']}",
            )
        if rt.outcome == "crash":
            self._event(
                pod,
                rt,
                "crash",
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {rt.bad_container} in pod "
                f"{pod['metadata']['name']}_{pod['metadata']['namespace']}"
                f"({pod['metadata']['uid']})",
            )
        self._write_log(pod, rt)

    def _write_log(self, pod: dict, rt: PodRuntime) -> None:
        if "log" in rt.reported:
            return
        rt.reported.add("log")
        meta = pod["metadata"]
        containers = pod["spec"].get("containers") or []
        if rt.outcome in ("succeed", "fail"):
            text = f"running: {command_line(pod)}\n"
            text += (
                "done\n" if rt.outcome == "succeed" else "error: command failed with exit code 1\n"
            )
        else:
            text = "".join(
                f"sandbox: container {c['name']} started from {c['image']}\n" for c in containers
            )
            if rt.outcome == "crash":
                text += "fatal: the process exited with code 1 (sandbox crash pattern)\n"
        with self.api.store.lock:
            self.api.store.pod_logs[(meta["namespace"], meta["name"])] = text

    def _status(self, pod: dict, rt: PodRuntime, state: str) -> dict:
        meta = pod["metadata"]
        created = meta.get("creationTimestamp") or self.api.now()
        phase = {
            "creating": "Pending",
            "pull": "Pending",
            "ok": "Running",
            "crash": "Running",
            "succeed": "Succeeded",
            "fail": "Failed",
        }[state]
        ready = state == "ok"
        statuses = [
            self._container_status(pod, rt, c, state) for c in pod["spec"].get("containers") or []
        ]
        ready_stamp = rt.stamp("ready" if ready else f"notready-{state}", self.api.now())
        flag = "True" if ready else "False"
        conditions = [
            {
                "type": "PodReadyToStartContainers",
                "status": "False" if state == "creating" else "True",
                "lastTransitionTime": created,
                "lastProbeTime": None,
            },
            {
                "type": "Initialized",
                "status": "True",
                "lastTransitionTime": created,
                "lastProbeTime": None,
            },
            {
                "type": "Ready",
                "status": flag,
                "lastTransitionTime": ready_stamp,
                "lastProbeTime": None,
            },
            {
                "type": "ContainersReady",
                "status": flag,
                "lastTransitionTime": ready_stamp,
                "lastProbeTime": None,
            },
            {
                "type": "PodScheduled",
                "status": "True",
                "lastTransitionTime": created,
                "lastProbeTime": None,
            },
        ]
        if not ready:
            waiting = [s["name"] for s in statuses if not s["ready"]]
            for cond in conditions[2:4]:
                cond["reason"] = "ContainersNotReady" if phase != "Succeeded" else "PodCompleted"
                cond["message"] = f"containers with unready status: [{' '.join(waiting)}]"
        digest = hashlib.sha256(meta["uid"].encode()).digest()
        return {
            "phase": phase,
            "conditions": conditions,
            "hostIP": "10.0.0.10",
            "hostIPs": [{"ip": "10.0.0.10"}],
            "podIP": f"10.244.{digest[0]}.{digest[1] % 250 + 2}",
            "podIPs": [{"ip": f"10.244.{digest[0]}.{digest[1] % 250 + 2}"}],
            "startTime": created,
            "containerStatuses": statuses,
            "qosClass": "BestEffort",
        }

    def _container_status(self, pod: dict, rt: PodRuntime, container: dict, state: str) -> dict:
        name, image = container["name"], container.get("image", "")
        ref = full_reference(image)
        image_id = (
            f"{ref.split('@')[0].rsplit(':', 1)[0]}@sha256:"
            + hashlib.sha256(ref.encode()).hexdigest()
        )
        status = {
            "name": name,
            "image": ref,
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "started": False,
            "state": {},
            "lastState": {},
        }
        cid = "containerd://" + hashlib.sha256((pod["metadata"]["uid"] + name).encode()).hexdigest()
        if state == "creating" or (state == "pull" and name != rt.bad_container):
            status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        elif state == "pull":
            status["state"] = {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{image}": ErrImagePull: {rt.message}',
                }
            }
        elif state == "crash" and name == rt.bad_container:
            elapsed = max(0.0, self.api.clock.monotonic() - rt.ready_at)
            restarts, backoff, since_crash = crash_backoff(elapsed)
            status.update(restartCount=restarts, imageID=image_id, containerID=cid)
            crashed = (self.api.clock.now() - timedelta(seconds=since_crash)).strftime(STAMP_FORMAT)
            status["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {go_duration(backoff)} restarting failed "
                    f"container={name} "
                    f"pod={pod['metadata']['name']}_{pod['metadata']['namespace']}"
                    f"({pod['metadata']['uid']})",
                }
            }
            status["lastState"] = {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": crashed,
                    "finishedAt": crashed,
                    "containerID": cid,
                }
            }
        elif state in ("succeed", "fail"):
            failed = state == "fail"
            status.update(imageID=image_id, containerID=cid)
            status["state"] = {
                "terminated": {
                    "exitCode": 1 if failed else 0,
                    "reason": "Error" if failed else "Completed",
                    "startedAt": rt.stamp("started", self.api.now()),
                    "finishedAt": rt.stamp("finished", self.api.now()),
                    "containerID": cid,
                }
            }
        else:
            status.update(ready=True, started=True, imageID=image_id, containerID=cid)
            status["state"] = {"running": {"startedAt": rt.stamp("started", self.api.now())}}
        return status
