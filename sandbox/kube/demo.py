"""The demo's namespaces and workloads, as ``make run`` seeds them into the sandbox."""

from __future__ import annotations

import yaml

from sandbox import demo_data

PROJECTS = (
    ("shop", demo_data.SHOP_SERVICES, True),
    ("analytics", demo_data.ANALYTICS_SERVICES, False),
)


def demo_documents(registry_address: str) -> list[dict]:
    """Namespaces ``<project>-<env>`` and, for the K8s YAML project's non-production
    environments, each service's Deployment + Service (Helm releases are Helm's job)."""
    docs: list[dict] = []
    for key, services, yaml_project in PROJECTS:
        for env_name, production in demo_data.ENVIRONMENTS:
            namespace = f"{key}-{env_name}"
            docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            if production or not yaml_project:
                continue
            for service in services:
                image = f"{demo_data.image_repository(registry_address, service)}:{service.tag}"
                for doc in yaml.safe_load_all(demo_data.yaml_template(service, image)):
                    doc["metadata"]["namespace"] = namespace
                    docs.append(doc)
    return docs
