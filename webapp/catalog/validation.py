"""Checks on user-supplied catalog text: kubeconfigs, addresses, YAML templates."""

from __future__ import annotations

import re

from jobs.kube.kubeconfig_policy import KubeconfigRefused, check_kubeconfig_data
from jobs.kube.safe_yaml import YamlInputError, kind_of, load_documents

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
REGISTRY_ADDRESS_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?\Z"
)
_PATH_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
REGISTRY_NAMESPACE_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*\Z")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


class InvalidInput(ValueError):
    """User input that cannot be accepted; the message says why."""


def safe_load_documents(text: str, max_bytes: int, *, what: str = "The YAML") -> list[dict]:
    """Parse multi-document YAML through the one loader; every document is a mapping."""
    try:
        documents = load_documents(text, max_bytes, what=what)
    except YamlInputError as exc:
        raise InvalidInput(str(exc)) from exc
    for index, doc in enumerate(documents, start=1):
        if not isinstance(doc, dict):
            raise InvalidInput(f"Document {index} is not a YAML mapping.")
    return documents


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be a mapping, not {kind_of(value)}.")
    return value


def _text(value, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{where} must be a non-empty text.")
    return value


def _list(value, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{where} must be a list, not {kind_of(value)}.")
    return value


def pod_spec(document: dict) -> dict | None:
    """The pod spec inside a workload document, or None when it is not a workload.

    Raises ``InvalidInput`` naming the key when a workload has the wrong shape.
    """
    kind = document.get("kind")
    if kind not in WORKLOAD_KINDS:
        return None
    spec = _mapping(document.get("spec"), f"{kind} spec")
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        job = _mapping(spec.get("jobTemplate"), "CronJob spec.jobTemplate")
        spec = _mapping(job.get("spec"), "CronJob spec.jobTemplate.spec")
    template = _mapping(spec.get("template"), f"{kind} spec.template")
    return _mapping(template.get("spec"), f"{kind} spec.template.spec")


def workload_containers(documents: list[dict]) -> list[tuple[str, str, str, str]]:
    """(kind, workload name, container name, image) for every container of every workload."""
    found = []
    for doc in documents:
        spec = pod_spec(doc)
        if spec is None:
            continue
        kind = doc["kind"]
        metadata = _mapping(doc.get("metadata"), f"{kind} metadata")
        name = _text(metadata.get("name"), f"{kind} metadata.name", required=False)
        for key in ("initContainers", "containers"):
            for index, container in enumerate(_list(spec.get(key), f"{kind} {name} {key}")):
                where = f"{kind} {name or '(no name)'} {key}[{index}]"
                container = _mapping(container, where)
                found.append(
                    (
                        kind,
                        name,
                        _text(container.get("name"), f"{where}.name", required=False),
                        _text(container.get("image"), f"{where}.image", required=False),
                    )
                )
    return found


def check_workload_template(text: str, max_bytes: int) -> list[dict]:
    """A service template: parses, and has at least one workload with containers."""
    documents = safe_load_documents(text, max_bytes)
    if not documents:
        raise InvalidInput("The template is empty.")
    for doc in documents:
        kind, api_version = doc.get("kind"), doc.get("apiVersion")
        if not kind or not api_version:
            raise InvalidInput("Every document needs apiVersion and kind.")
        if not isinstance(kind, str) or not isinstance(api_version, str):
            raise InvalidInput("apiVersion and kind are texts (like apps/v1 and Deployment).")
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


def _named_entries(config: dict, key: str, body: str) -> dict[str, dict]:
    """``clusters``/``users``/``contexts``: a list of {name, <body>} with distinct names."""
    entries: dict[str, dict] = {}
    for index, entry in enumerate(_list(config.get(key), key), start=1):
        entry = _mapping(entry, f"{key} entry {index}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{key} entry {index} has no name.")
        if name in entries:
            raise InvalidInput(f"{key} has two entries named {name!r}.")
        entries[name] = _mapping(entry.get(body), f"{key} entry {name!r} {body}")
    return entries


def check_kubeconfig(text: str, max_bytes: int = 256 * 1024) -> dict:
    """A kubeconfig: YAML with clusters, users and contexts that refer to each other.

    Only its shape; what credentials it may use is the security policy's concern.
    """
    documents = safe_load_documents(text, max_bytes, what="The kubeconfig")
    if len(documents) != 1:
        raise InvalidInput("A kubeconfig is one YAML document.")
    config = documents[0]
    if config.get("kind", "Config") != "Config":
        raise InvalidInput("This is not a kubeconfig (kind is not Config).")
    clusters = _named_entries(config, "clusters", "cluster")
    users = _named_entries(config, "users", "user")
    contexts = _named_entries(config, "contexts", "context")
    try:
        check_kubeconfig_data(config)
    except KubeconfigRefused as exc:
        raise InvalidInput(str(exc)) from exc
    if not clusters or not contexts:
        raise InvalidInput("The kubeconfig needs at least one cluster and one context.")
    current = config.get("current-context") or next(iter(contexts))
    if not isinstance(current, str) or current not in contexts:
        raise InvalidInput(f"current-context {current!r} is not one of the contexts.")
    context = contexts[current]
    if not isinstance(context.get("cluster"), str) or context["cluster"] not in clusters:
        raise InvalidInput(f"Context {current!r} names a cluster that is not defined.")
    if context.get("user") is not None and (
        not isinstance(context["user"], str) or context["user"] not in users
    ):
        raise InvalidInput(f"Context {current!r} names a user that is not defined.")
    for name, cluster in clusters.items():
        server = cluster.get("server")
        if not isinstance(server, str) or not re.match(r"^https?://", server):
            raise InvalidInput(f"The server of cluster {name!r} must be an http(s) URL.")
    return config


def kubeconfig_server(text: str) -> str:
    """The API server URL of the kubeconfig's current context ("" when it cannot be read).

    Kubeconfigs stored before the shape checks may not pass them: the page still shows.
    """
    try:
        config = check_kubeconfig(text, max_bytes=len(text.encode()) + 1)
    except InvalidInput:
        return ""
    contexts = {c["name"]: c.get("context") or {} for c in config.get("contexts") or []}
    current = config.get("current-context") or next(iter(contexts))
    clusters = {c["name"]: c.get("cluster") or {} for c in config.get("clusters") or []}
    return clusters[contexts[current]["cluster"]].get("server", "")
