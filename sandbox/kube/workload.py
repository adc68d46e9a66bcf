"""What every simulated workload controller shares: making and removing its pods."""

from __future__ import annotations

from sandbox.kube.api import Api
from sandbox.kube.config import SandboxConfig
from sandbox.kube.kubelet import Kubelet
from sandbox.kube.objects import PODS, pod_from_template
from sandbox.kube.resources import Resource


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
