"""Put the demo's Helm releases into the sandbox cluster, and follow a moved registry.

``make run`` starts the sandbox with ``--demo-registry`` (namespaces and the
K8s YAML project's workloads, see sandbox/kube/demo.py); this module adds what
only Helm can make: a real Helm release per Analytics service in its dev and
test namespaces, with the same chart and values ``flask demo seed`` records,
so ``helm history`` on the sandbox shows them. Run it in its own process (it
loads Helm's Go runtime)::

    python -m sandbox.demo_cluster helm --kubeconfig .run/kubeconfig --registry 127.0.0.1:5000
    python -m sandbox.demo_cluster retarget --kubeconfig .run/kubeconfig \\
        --old 127.0.0.1:5000 --new 127.0.0.1:5001
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox import demo_data

HELM_PROJECT = "analytics"
CHART_VERSION = "1.0.0"


def helm_values(registry_address: str, service: demo_data.DemoService) -> dict:
    """The values a demo Helm service is deployed with (as ``flask demo seed`` records them)."""
    return {
        "replicaCount": 1,
        "image": {
            "repository": demo_data.image_repository(registry_address, service),
            "tag": service.tag,
        },
    }


def install_helm_releases(kubeconfig: str, registry_address: str) -> list[str]:
    """Install each Analytics service into ``analytics-dev`` and ``analytics-test``.

    Releases that exist already are left alone. Returns ``namespace/release``
    of those installed.
    """
    import helm_python

    from sandbox.charts import build_chart_archive

    installed = []
    for env_name, production in demo_data.ENVIRONMENTS:
        if production:
            continue
        namespace = f"{HELM_PROJECT}-{env_name}"
        with helm_python.Config(namespace=namespace, kubeconfig_content=kubeconfig) as config:
            for service in demo_data.ANALYTICS_SERVICES:
                try:
                    config.history(service.name, max_revisions=1)
                    continue
                except helm_python.HelmNotFoundError:
                    pass
                values = helm_values(registry_address, service)
                archive = build_chart_archive(
                    service.name,
                    CHART_VERSION,
                    image_repository=values["image"]["repository"],
                    image_tag=service.tag,
                    port=service.port,
                )
                with helm_python.Chart.load_archive(archive) as chart:
                    config.install(
                        chart,
                        service.name,
                        values,
                        namespace=namespace,
                        create_namespace=True,
                        timeout=60,
                        description="Slipway demo",
                    )
                installed.append(f"{namespace}/{service.name}")
    return installed


def retarget_images(kubeconfig: str, old_address: str, new_address: str) -> list[str]:
    """Point workloads whose images live at ``old_address`` to ``new_address``.

    The demo registry keeps its storage when it has to move to another port;
    the workloads in the sandbox still name the old port. Returns
    ``namespace/kind/name`` of each workload patched.
    """
    import yaml
    from kubernetes import client, config

    api_client = config.new_client_from_config_dict(yaml.safe_load(kubeconfig))
    apps = client.AppsV1Api(api_client)
    kinds = (
        ("Deployment", apps.list_deployment_for_all_namespaces, apps.patch_namespaced_deployment),
        (
            "StatefulSet",
            apps.list_stateful_set_for_all_namespaces,
            apps.patch_namespaced_stateful_set,
        ),
        ("DaemonSet", apps.list_daemon_set_for_all_namespaces, apps.patch_namespaced_daemon_set),
    )
    prefix = f"{old_address}/"
    patched = []
    for kind, list_all, patch in kinds:
        for item in list_all().items:
            containers = [
                {"name": c.name, "image": new_address + "/" + c.image[len(prefix) :]}
                for c in item.spec.template.spec.containers
                if c.image.startswith(prefix)
            ]
            if not containers:
                continue
            body = {"spec": {"template": {"spec": {"containers": containers}}}}
            patch(item.metadata.name, item.metadata.namespace, body)
            patched.append(f"{item.metadata.namespace}/{kind}/{item.metadata.name}")
    return patched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo_cluster")
    commands = parser.add_subparsers(dest="command", required=True)
    helm = commands.add_parser("helm", help="install the demo's Helm releases if missing")
    helm.add_argument("--kubeconfig", required=True, type=Path)
    helm.add_argument("--registry", required=True, metavar="HOST:PORT")
    retarget = commands.add_parser("retarget", help="move workload images to another registry")
    retarget.add_argument("--kubeconfig", required=True, type=Path)
    retarget.add_argument("--old", required=True, metavar="HOST:PORT")
    retarget.add_argument("--new", required=True, metavar="HOST:PORT")
    args = parser.parse_args(argv)
    kubeconfig = args.kubeconfig.read_text()
    if args.command == "helm":
        done = install_helm_releases(kubeconfig, args.registry)
        print(
            f"installed {len(done)} demo Helm releases" + (f": {', '.join(done)}" if done else "")
        )
    else:
        done = retarget_images(kubeconfig, args.old, args.new)
        print(f"moved the images of {len(done)} workloads from {args.old} to {args.new}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
