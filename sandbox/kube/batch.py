"""The simulated Job controller: one pod per Job, complete or failed by its outcome."""

from __future__ import annotations

from sandbox.kube.api import Api, random_suffix
from sandbox.kube.config import SandboxConfig
from sandbox.kube.events import record_event
from sandbox.kube.kubelet import Kubelet
from sandbox.kube.objects import PODS, pod_from_template, set_status
from sandbox.kube.resources import by_plural

JOBS = by_plural("batch", "jobs")


def _finished(job: dict) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in job.get("status", {}).get("conditions") or []
    )


class JobController:
    """Runs each Job as a single pod; no retries (``backoffLimit`` is not simulated)."""

    def __init__(self, api: Api, config: SandboxConfig, kubelet: Kubelet) -> None:
        self.api = api
        self.config = config
        self.kubelet = kubelet

    def job(self, job: dict, pods: list[dict]) -> None:
        meta = job["metadata"]
        if _finished(job) or job["spec"].get("suspend"):
            return
        status = dict(job.get("status") or {})
        if not pods:
            template = job["spec"].get("template") or {}
            labels = {
                "job-name": meta["name"],
                "batch.kubernetes.io/job-name": meta["name"],
                "controller-uid": meta["uid"],
                "batch.kubernetes.io/controller-uid": meta["uid"],
            }
            name = f"{meta['name']}-{random_suffix()}"
            body = pod_from_template(JOBS, job, template, name, labels)
            body["spec"].setdefault("restartPolicy", "Never")
            pod = self.api.create(PODS, meta["namespace"], body)
            self.kubelet.schedule(pod["metadata"]["uid"], self.config.job_seconds)
            record_event(
                self.api,
                JOBS,
                job,
                "Normal",
                "SuccessfulCreate",
                f"Created pod: {name}",
                "job-controller",
            )
            status.update(
                startTime=status.get("startTime") or self.api.now(),
                active=1,
                ready=0,
                uncountedTerminatedPods={},
            )
        else:
            phase = pods[0]["status"].get("phase")
            stamp = self.api.now()
            if phase == "Succeeded":
                status.update(
                    active=0,
                    succeeded=1,
                    ready=0,
                    completionTime=stamp,
                    conditions=[
                        {
                            "type": "SuccessCriteriaMet",
                            "status": "True",
                            "reason": "CompletionsReached",
                            "message": "Reached expected number of succeeded pods",
                            "lastProbeTime": stamp,
                            "lastTransitionTime": stamp,
                        },
                        {
                            "type": "Complete",
                            "status": "True",
                            "reason": "CompletionsReached",
                            "message": "Reached expected number of succeeded pods",
                            "lastProbeTime": stamp,
                            "lastTransitionTime": stamp,
                        },
                    ],
                )
                record_event(
                    self.api, JOBS, job, "Normal", "Completed", "Job completed", "job-controller"
                )
            elif phase == "Failed":
                status.update(
                    active=0,
                    failed=1,
                    ready=0,
                    conditions=[
                        {
                            "type": "FailureTarget",
                            "status": "True",
                            "reason": "BackoffLimitExceeded",
                            "message": "Job has reached the specified backoff limit",
                            "lastProbeTime": stamp,
                            "lastTransitionTime": stamp,
                        },
                        {
                            "type": "Failed",
                            "status": "True",
                            "reason": "BackoffLimitExceeded",
                            "message": "Job has reached the specified backoff limit",
                            "lastProbeTime": stamp,
                            "lastTransitionTime": stamp,
                        },
                    ],
                )
                record_event(
                    self.api,
                    JOBS,
                    job,
                    "Warning",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    "job-controller",
                )
            else:
                status.update(active=1)
        set_status(self.api, JOBS, meta["namespace"], meta["name"], status)
