"""The simulated control plane: one background thread ticking every controller."""

from __future__ import annotations

import logging
import threading

from sandbox.kube.api import Api
from sandbox.kube.batch import JOBS, JobController
from sandbox.kube.config import SandboxConfig
from sandbox.kube.daemonsets import DAEMONSETS, DaemonSetController
from sandbox.kube.deployments import DEPLOYMENTS, REPLICASETS, DeploymentController
from sandbox.kube.disruption import PDBS, sync_budget
from sandbox.kube.endpoints import SERVICES, sync_service
from sandbox.kube.images import ImageChecker
from sandbox.kube.kubelet import Kubelet
from sandbox.kube.objects import PODS, by_owner
from sandbox.kube.resources import by_plural
from sandbox.kube.statefulsets import STATEFULSETS, StatefulSetController

log = logging.getLogger(__name__)
REPLICATION_CONTROLLERS = by_plural("", "replicationcontrollers")


class Controller:
    """Ticks Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and pods."""

    def __init__(self, api: Api, config: SandboxConfig) -> None:
        self.api = api
        self.config = config
        self.kubelet = Kubelet(api, config, ImageChecker(config, monotonic=api.clock.monotonic))
        self.deployments = DeploymentController(api, config, self.kubelet)
        self.statefulsets = StatefulSetController(api, config, self.kubelet)
        self.daemonsets = DaemonSetController(api, config, self.kubelet)
        self.jobs = JobController(api, config, self.kubelet)
        self._failures: set[tuple[str, str, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-controller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.config.tick_seconds):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - keep the cluster alive; the next tick retries
                log.exception("sandbox controller tick failed")

    def _safely(self, what: str, step, *args) -> None:  # noqa: ANN001
        try:
            step(*args)
        except Exception as exc:  # noqa: BLE001 - one broken object must not stop the others
            # The same failure of the same object is logged once, not on every tick.
            key = (what, type(exc).__name__, str(exc))
            if key not in self._failures:
                self._failures.add(key)
                log.exception("sandbox controller: %s", what)

    def tick(self) -> None:
        """One pass over every workload, then every pod."""
        store = self.api.store
        pods, _ = store.list(PODS)
        replicasets, _ = store.list(REPLICASETS)
        pods_by_owner = by_owner(pods)
        rs_by_owner = by_owner(replicasets)
        for deploy in store.list(DEPLOYMENTS)[0]:
            self._safely(
                f"deployment {deploy['metadata']['name']}",
                self.deployments.deployment,
                deploy,
                rs_by_owner.get(deploy["metadata"]["uid"], []),
                pods_by_owner,
            )
        for rs in store.list(REPLICASETS)[0]:
            self._safely(
                f"replicaset {rs['metadata']['name']}",
                self.deployments.replicaset,
                rs,
                pods_by_owner.get(rs["metadata"]["uid"], []),
            )
        for rc in store.list(REPLICATION_CONTROLLERS)[0]:
            self._safely(
                f"replicationcontroller {rc['metadata']['name']}",
                self.deployments.replicaset,
                rc,
                pods_by_owner.get(rc["metadata"]["uid"], []),
                REPLICATION_CONTROLLERS,
            )
        for sts in store.list(STATEFULSETS)[0]:
            self._safely(
                f"statefulset {sts['metadata']['name']}",
                self.statefulsets.statefulset,
                sts,
                pods_by_owner.get(sts["metadata"]["uid"], []),
            )
        for ds in store.list(DAEMONSETS)[0]:
            self._safely(
                f"daemonset {ds['metadata']['name']}",
                self.daemonsets.daemonset,
                ds,
                pods_by_owner.get(ds["metadata"]["uid"], []),
            )
        for job in store.list(JOBS)[0]:
            self._safely(
                f"job {job['metadata']['name']}",
                self.jobs.job,
                job,
                pods_by_owner.get(job["metadata"]["uid"], []),
            )
        for service in store.list(SERVICES)[0]:
            self._safely(
                f"service {service['metadata']['name']}", sync_service, self.api, service, pods
            )
        for pdb in store.list(PDBS)[0]:
            self._safely(
                f"poddisruptionbudget {pdb['metadata']['name']}", sync_budget, self.api, pdb, pods
            )
        self.kubelet.tick(store.list(PODS)[0])
