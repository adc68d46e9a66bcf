"""What the demo holds: two projects, their services, images and environments."""

from __future__ import annotations

from dataclasses import dataclass

DEMO_NAMESPACE = "demo"


@dataclass(frozen=True)
class DemoService:
    name: str
    order_group: int
    port: int
    # The image is pushed as demo/<name>:<tag>; "multi" makes a multi-arch index.
    tag: str
    multi_arch: bool = False


SHOP_SERVICES = (
    DemoService("cart", 1, 8080, "1.4.0"),
    DemoService("payments", 1, 8081, "2.0.1", multi_arch=True),
    DemoService("frontend", 2, 80, "3.1.0", multi_arch=True),
)
ANALYTICS_SERVICES = (
    DemoService("ingest", 1, 9000, "0.9.0"),
    DemoService("query", 2, 9001, "1.2.0"),
    DemoService("dashboard", 3, 3000, "2.3.0", multi_arch=True),
)
ENVIRONMENTS = (("dev", False), ("test", False), ("prod", True))


def image_repository(registry_address: str, service: DemoService) -> str:
    return f"{registry_address}/{DEMO_NAMESPACE}/{service.name}"


def push_demo_images(registry_address: str) -> dict[str, str]:
    """Push every demo service's image; return ``{service name: image ref}``."""
    from sandbox.images import push_demo_image

    refs = {}
    for service in SHOP_SERVICES + ANALYTICS_SERVICES:
        platforms = ("linux/amd64", "linux/arm64") if service.multi_arch else ("linux/amd64",)
        repository = f"{DEMO_NAMESPACE}/{service.name}"
        push_demo_image(
            registry_address, repository, service.tag, platforms=platforms, seed=service.name
        )
        refs[service.name] = f"{registry_address}/{repository}:{service.tag}"
    return refs


def yaml_template(service: DemoService, image: str) -> str:
    """A Deployment + Service for a K8s YAML demo service."""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {service.name}
  labels:
    app: {service.name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {service.name}
  template:
    metadata:
      labels:
        app: {service.name}
    spec:
      containers:
        - name: {service.name}
          image: {image}
          ports:
            - containerPort: {service.port}
---
apiVersion: v1
kind: Service
metadata:
  name: {service.name}
spec:
  selector:
    app: {service.name}
  ports:
    - port: {service.port}
      targetPort: {service.port}
"""
