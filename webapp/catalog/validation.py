"""Checks on user-supplied catalog text: kubeconfigs, addresses, YAML templates."""

from __future__ import annotations

import re

import yaml

from jobs.kube.kubeconfig_policy import KubeconfigRefused, check_kubeconfig_data

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
REGISTRY_ADDRESS_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$"
)
_PATH_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
REGISTRY_NAMESPACE_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


class InvalidInput(ValueError):
    """User input that cannot be accepted; the message says why."""


def safe_load_documents(text: str, max_bytes: int) -> list[dict]:
    """Parse multi-document YAML with size and shape checks."""
    if len(text.encode()) > max_bytes:
        raise InvalidInput(f"The YAML is larger than {max_bytes // 1024} KiB.")
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The YAML does not parse: {_yaml_problem(exc)}") from exc
    for index, doc in enumerate(documents, start=1):
        if not isinstance(doc, dict):
            raise InvalidInput(f"Document {index} is not a YAML mapping.")
    return documents


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return problem


def pod_spec(document: dict) -> dict | None:
    """The pod spec inside a workload document, or None."""
    kind = document.get("kind")
    spec = document.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    if kind in WORKLOAD_KINDS:
        return ((spec.get("template") or {}).get("spec")) or {}
    return None


def workload_containers(documents: list[dict]) -> list[tuple[str, str, str, str]]:
    """(kind, workload name, container name, image) for every container of every workload."""
    found = []
    for doc in documents:
        spec = pod_spec(doc)
        if spec is None:
            continue
        name = (doc.get("metadata") or {}).get("name", "")
        for key in ("initContainers", "containers"):
            for container in spec.get(key) or []:
                if isinstance(container, dict):
                    found.append(
                        (doc["kind"], name, container.get("name", ""), container.get("image", ""))
                    )
    return found


def check_workload_template(text: str, max_bytes: int) -> list[dict]:
    """A service template: parses, and has at least one workload with containers."""
    documents = safe_load_documents(text, max_bytes)
    if not documents:
        raise InvalidInput("The template is empty.")
    for doc in documents:
        if not doc.get("kind") or not doc.get("apiVersion"):
            raise InvalidInput("Every document needs apiVersion and kind.")
    containers = workload_containers(documents)
    if not containers:
        raise InvalidInput(
            "The template has no workload with containers "
            f"(one of {', '.join(sorted(WORKLOAD_KINDS))} with spec.template.spec.containers)."
        )
    for kind, name, container, image in containers:
        if not name or not container or not image:
            raise InvalidInput(
                f"Every workload needs metadata.name and every container a name and an image "
                f"(check {kind} {name or '(no name)'})."
            )
    return documents


def check_kubeconfig(text: str, max_bytes: int = 256 * 1024) -> dict:
    """A kubeconfig: YAML with clusters, users and contexts that refer to each other."""
    documents = safe_load_documents(text, max_bytes)
    if len(documents) != 1:
        raise InvalidInput("A kubeconfig is one YAML document.")
    config = documents[0]
    if config.get("kind", "Config") != "Config":
        raise InvalidInput("This is not a kubeconfig (kind is not Config).")
    try:
        check_kubeconfig_data(config)
    except KubeconfigRefused as exc:
        raise InvalidInput(str(exc)) from exc
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
    users = {u.get("name") for u in config.get("users") or []}
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    if not clusters or not contexts:
        raise InvalidInput("The kubeconfig needs at least one cluster and one context.")
    current = config.get("current-context") or next(iter(contexts))
    if current not in contexts:
        raise InvalidInput(f"current-context {current!r} is not one of the contexts.")
    context = contexts[current]
    if context.get("cluster") not in clusters:
        raise InvalidInput(f"Context {current!r} names a cluster that is not defined.")
    if context.get("user") and context["user"] not in users:
        raise InvalidInput(f"Context {current!r} names a user that is not defined.")
    server = clusters[context["cluster"]].get("server", "")
    if not re.match(r"^https?://", str(server)):
        raise InvalidInput("The cluster's server must be an http(s) URL.")
    return config


def kubeconfig_server(text: str) -> str:
    """The API server URL of the kubeconfig's current context."""
    config = yaml.safe_load(text)
    contexts = {c["name"]: c.get("context") or {} for c in config.get("contexts") or []}
    current = config.get("current-context") or next(iter(contexts))
    clusters = {c["name"]: c.get("cluster") or {} for c in config.get("clusters") or []}
    return clusters[contexts[current]["cluster"]].get("server", "")
