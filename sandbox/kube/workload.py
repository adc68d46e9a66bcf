"""What every simulated workload controller shares: making and removing its pods."""

from __future__ import annotations

import copy

from sandbox.kube.api import Api
from sandbox.kube.config import SandboxConfig
from sandbox.kube.kubelet import Kubelet
from sandbox.kube.objects import PODS, owner_reference, pod_from_template
from sandbox.kube.resources import Resource, by_plural

CONTROLLER_REVISIONS = by_plural("apps", "controllerrevisions")


class WorkloadController:
    """Base of the Deployment, StatefulSet and DaemonSet controllers."""

    def __init__(self, api: Api, config: SandboxConfig, kubelet: Kubelet) -> None:
        self.api = api
        self.config = config
        self.kubelet = kubelet

    def create_pods(
        self, res: Resource, owner: dict, template: dict, names: list[str], labels: dict[str, str]
    ) -> None:
        """Create pods from ``template``; they become ready one by one over ``rollout_seconds``."""
        for index, name in enumerate(names):
            body = pod_from_template(res, owner, template, name, labels)
            pod = self.api.create(PODS, owner["metadata"]["namespace"], body)
            delay = self.config.rollout_seconds * (index + 1) / len(names)
            self.kubelet.schedule(pod["metadata"]["uid"], delay)

    def delete_pods(self, pods: list[dict]) -> None:
        """Remove pods at once (the sandbox has no graceful termination)."""
        for pod in pods:
            self.api.store.remove(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])

    def sync_revision(self, res: Resource, owner: dict, template: dict, revision_hash: str) -> int:
        """The ControllerRevision of ``template`` (``<name>-<hash>``), as the StatefulSet
        and DaemonSet controllers keep them, so ``kubectl rollout history|undo`` work:
        a new template gets the next revision number, and going back to an old one
        (``rollout undo``) renumbers it as the newest. Returns its revision number."""
        meta = owner["metadata"]
        ns, uid = meta["namespace"], meta["uid"]
        owned = [
            r
            for r in self.api.store.list(CONTROLLER_REVISIONS, ns)[0]
            if any(o.get("uid") == uid for o in r["metadata"].get("ownerReferences") or [])
        ]
        name = f"{meta['name']}-{revision_hash}"
        top = max((int(r.get("revision", 0)) for r in owned), default=0)
        mine = next((r for r in owned if r["metadata"]["name"] == name), None)
        if mine is None:
            labels = {
                **((template.get("metadata") or {}).get("labels") or {}),
                "controller.kubernetes.io/hash": revision_hash,
            }
            data_template = {**copy.deepcopy(template), "$patch": "replace"}
            self.api.create(
                CONTROLLER_REVISIONS,
                ns,
                {
                    "apiVersion": "apps/v1",
                    "kind": "ControllerRevision",
                    "metadata": {
                        "name": name,
                        "labels": labels,
                        "ownerReferences": [owner_reference(res, owner)],
                    },
                    "data": {"spec": {"template": data_template}},
                    "revision": top + 1,
                },
            )
            return top + 1
        revision = int(mine.get("revision", 0))
        if revision < top:
            with self.api.store.lock:
                current = self.api.store.get(CONTROLLER_REVISIONS, ns, name)
                if current is not None:
                    current["revision"] = top + 1
                    self.api.store.put(CONTROLLER_REVISIONS, current)
            return top + 1
        return revision
