"""The REST verbs with the API server's semantics: create, get, list, update,
patch, delete, on top of the store."""

from __future__ import annotations

import contextlib
import copy
import random
import re
import threading
import uuid
from collections.abc import Iterator

from sandbox.kube import errors, schemas
from sandbox.kube.apply import apply as server_side_apply
from sandbox.kube.conversion import to_storage, to_version
from sandbox.kube.defaults import apply_defaults, initial_status
from sandbox.kube.patches import json_patch, merge_patch, strategic_merge
from sandbox.kube.resources import (
    Resource,
    by_kind,
    by_plural,
    custom_resources,
    lookup,
    storage_resources,
)
from sandbox.kube.selectors import parse_field_selector, parse_label_selector
from sandbox.kube.store import Store

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
NAMESPACES = by_plural("", "namespaces")
SERVICE_ACCOUNTS = by_plural("", "serviceaccounts")
CRDS = by_plural("apiextensions.k8s.io", "customresourcedefinitions")
# Kinds whose DELETE answers the object (graceful deletion, finalizers, or
# ReturnDeletedObject in the API server's registry), not a Status.
_RETURNS_DELETED = {
    "Pod",
    "Namespace",
    "Service",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "CustomResourceDefinition",
    "PodTemplate",
}

PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}


def random_suffix(length: int = 5) -> str:
    """Random lowercase letters and digits, as in generated pod names."""
    return "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=length))


def prune_nulls(value: object) -> object:
    """Drop ``null`` map values, as decoding into Go structs does (``creationTimestamp: null``)."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


def _pruned(obj: dict) -> dict:
    if not isinstance(obj, dict):
        return obj
    return {k: v if k == "status" else prune_nulls(v) for k, v in obj.items() if v is not None}


class Api:
    """Object semantics on top of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = store.clock
        self._local = threading.local()

    # --- what is served -----------------------------------------------------------

    def custom_resources(self) -> list[Resource]:
        """The resources the stored CustomResourceDefinitions serve."""
        served: list[Resource] = []
        for crd in self.store.list(CRDS)[0]:
            served += custom_resources(crd)
        return served

    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        """The built-in or custom resource at ``<group>/<version>/<plural>``."""
        found = lookup(group, version, plural)
        return found or lookup(group, version, plural, self.custom_resources())

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        found = by_kind(api_version, kind)
        return found or by_kind(api_version, kind, self.custom_resources())

    def storage_resources(self) -> list[Resource]:
        """Every stored resource once (built-in and custom), for cascades."""
        return storage_resources(self.custom_resources())

    def now(self) -> str:
        """The current (sandbox clock) time the way the API writes timestamps."""
        return self.clock.stamp()

    # --- reads -----------------------------------------------------------------

    def get(self, res: Resource, namespace: str, name: str) -> dict:
        obj = self.store.get(res, namespace, name)
        if obj is None:
            raise errors.not_found(res.group, res.plural, name)
        return self._typed(res, to_version(res, obj))

    def list(
        self,
        res: Resource,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict:
        """A typed list (``PodList``, ``SecretList``...) honouring both selectors."""
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        items, rv = self.store.list(res, namespace)
        selected = [self._typed(res, to_version(res, o)) for o in items if labels(o) and fields(o)]
        return {
            "kind": res.list_kind,
            "apiVersion": res.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": selected,
        }

    @staticmethod
    def _typed(res: Resource, obj: dict) -> dict:
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind
        return obj

    # --- writes ----------------------------------------------------------------

    def _check_namespace(self, res: Resource, namespace: str) -> None:
        if res.namespaced and self.store.get(NAMESPACES, "", namespace) is None:
            raise errors.not_found("", "namespaces", namespace)

    @contextlib.contextmanager
    def request(self, field_validation: str = "") -> Iterator[list[str]]:
        """Scope of one HTTP request: its ``fieldValidation`` directive, and the list
        that collects its warnings (for ``Warning`` headers)."""
        self._local.field_validation = field_validation or "Warn"
        self._local.warnings = []
        try:
            yield self._local.warnings
        finally:
            self._local.field_validation = "Ignore"
            self._local.warnings = None

    def _schema(self, res: Resource) -> tuple[dict, dict] | None:
        crd = None
        if res.custom:
            crd = self.store.get(CRDS, "", f"{res.plural}.{res.group}")
        return schemas.object_schema(res, crd)

    def _unknown_fields(self, res: Resource, obj: dict, *, applied: bool = False) -> None:
        """Unknown fields are dropped, as decoding into the API types drops them; with
        ``fieldValidation=Strict`` they are a 400, with ``Warn`` (the default) a warning.
        An applied configuration with unknown fields always fails, as server-side apply's
        typed conversion does."""
        found = self._schema(res)
        if found is None or not isinstance(obj, dict):
            return
        dropped = schemas.prune_unknown(obj, *found)
        if not dropped:
            return
        mode = getattr(self._local, "field_validation", "Ignore")
        name = (obj.get("metadata") or {}).get("name", "")
        if applied:
            namespace = (obj.get("metadata") or {}).get("namespace", "")
            raise errors.ApiError(
                500,
                "InternalError",
                f"failed to create typed patch object ({namespace}/{name}; "
                f"{res.group}/{res.version}, Kind={res.kind}): "
                + ", ".join(f".{p}: field not declared in schema" for p in dropped),
            )
        if mode == "Strict":
            unknown = ", ".join(f'unknown field "{p}"' for p in dropped)
            raise errors.bad_request(
                f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
                f"strict decoding error: {unknown}"
            )
        warnings = getattr(self._local, "warnings", None)
        if mode == "Warn" and warnings is not None:
            warnings += [f'unknown field "{p}"' for p in dropped]

    def validate(self, res: Resource, obj: dict) -> None:
        """422 Invalid when a field has the wrong type for the kind's schema (generated
        from the client's models; a custom resource's from its CRD)."""
        found = self._schema(res)
        if found is None:
            return
        schema, defs = found
        problems = schemas.schema_errors(obj, schema, defs)
        if not problems:
            return
        messages = [message for _, message in problems]
        message = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
        name = (obj.get("metadata") or {}).get("name", "")
        kind = f"{res.kind}.{res.group}" if res.group else res.kind
        raise errors.ApiError(
            422,
            "Invalid",
            f'{kind} "{name}" is invalid: {message}',
            {
                "name": name,
                "group": res.group,
                "kind": res.kind,
                "causes": [
                    {
                        "reason": "FieldValueInvalid",
                        "message": m.removeprefix(f"{field}: "),
                        "field": field,
                    }
                    for field, m in problems
                ],
            },
        )

    def _check_body(self, res: Resource, body: dict, namespace: str) -> None:
        if not isinstance(body, dict):
            raise errors.bad_request("the request body is not an object")
        kind = body.get("kind")
        if kind and kind != res.kind:
            raise errors.bad_request(
                f"the kind of the provided object ({kind}) does not match {res.kind}"
            )
        # Go's omitempty: zero values (as protobuf decoding yields) mean "not set".
        meta = {k: v for k, v in (body.get("metadata") or {}).items() if v not in ("", 0, None)}
        body["metadata"] = meta
        if res.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace "
                    "sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)

    def _save(self, res: Resource, obj: dict, dry_run: bool) -> dict:
        """Store ``obj``, or with ``dry_run`` only show what would be stored."""
        if dry_run:
            return self._typed(res, to_version(res, copy.deepcopy(obj)))
        return self._typed(res, to_version(res, self.store.put(res, obj)))

    def create(self, res: Resource, namespace: str, body: dict, *, dry_run: bool = False) -> dict:
        """POST: a new object (409 AlreadyExists, 404 for a missing namespace)."""
        body = _pruned(copy.deepcopy(body))
        self._check_body(res, body, namespace)
        meta = body["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + random_suffix()
        name = meta.get("name") or ""
        if not _NAME.match(name) or len(name) > 253:
            raise errors.invalid(
                res.group,
                res.plural,
                res.kind,
                name,
                f"metadata.name: Invalid value: {name!r}: a lowercase "
                "RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.'",
            )
        self._unknown_fields(res, body)
        self.validate(res, body)
        body = to_storage(res, body)
        with self.store.lock:
            self._check_namespace(res, namespace)
            if self.store.get(res, namespace, name) is not None:
                raise errors.already_exists(res.group, res.plural, name)
            self._typed(res, body)
            for key in ("resourceVersion", "deletionTimestamp"):
                meta.pop(key, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = self.now()
            apply_defaults(body)
            if res.has_status:
                meta["generation"] = 1
                status = initial_status(body)
                if status is not None:
                    body["status"] = status
            created = self._save(res, body, dry_run)
            if res.kind == "Namespace" and not dry_run:
                self.ensure_default_service_account(name)
            return created

    def ensure_default_service_account(self, namespace: str) -> None:
        """The ``default`` ServiceAccount every namespace has (the serviceaccounts
        controller's job in Kubernetes; here it exists as soon as the namespace does)."""
        if self.store.get(SERVICE_ACCOUNTS, namespace, "default") is None:
            self.create(
                SERVICE_ACCOUNTS,
                namespace,
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
            )

    def update(
        self,
        res: Resource,
        namespace: str,
        name: str,
        body: dict,
        subresource: str = "",
        *,
        dry_run: bool = False,
    ) -> dict:
        """PUT: replace the object (409 when ``metadata.resourceVersion`` is stale)."""
        body = copy.deepcopy(body)
        self._check_body(res, body, namespace)
        if body["metadata"].get("name") not in (None, name):
            raise errors.bad_request("the name of the object does not match the name on the URL")
        body["metadata"]["name"] = name
        with self.store.lock:
            current = self.store.get(res, namespace, name)
            if current is None:
                raise errors.not_found(res.group, res.plural, name)
            sent_rv = body["metadata"].get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(res.group, res.plural, name)
            return self._store_update(res, current, body, subresource, dry_run)

    def _store_update(
        self, res: Resource, current: dict, new: dict, subresource: str, dry_run: bool = False
    ) -> dict:
        new = _pruned(new)
        self._unknown_fields(res, new)
        self.validate(res, new)
        new = to_storage(res, new)
        if subresource == "status":
            merged = copy.deepcopy(current)
            merged["status"] = new.get("status", {})
            new = merged
        else:
            if res.has_status:
                new["status"] = copy.deepcopy(current.get("status"))
                if new["status"] is None:
                    new.pop("status")
            for key in ("uid", "creationTimestamp", "generation"):
                if key in current["metadata"]:
                    new["metadata"][key] = current["metadata"][key]
                else:
                    new["metadata"].pop(key, None)
            if res.kind == "Service" and "clusterIP" in current.get("spec", {}):
                new.setdefault("spec", {}).setdefault("clusterIP", current["spec"]["clusterIP"])
            self._typed(res, new)
            apply_defaults(new)
            if res.has_status and new.get("spec") != current.get("spec"):
                new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        if new == current:
            return self._typed(res, to_version(res, current))
        return self._save(res, new, dry_run)

    def patch(
        self,
        res: Resource,
        namespace: str,
        name: str,
        patch_type: str,
        patch: object,
        *,
        subresource: str = "",
        field_manager: str = "",
        force: bool = False,
        dry_run: bool = False,
    ) -> dict:
        """PATCH: merge, strategic, json or apply; apply creates a missing object."""
        with self.store.lock:
            current = self.store.get(res, namespace, name)
            if patch_type == "apply":
                return self._apply(
                    res, namespace, name, current, patch, field_manager, force, dry_run
                )
            if current is None:
                raise errors.not_found(res.group, res.plural, name)
            view = to_version(res, current)
            if patch_type == "merge":
                result = merge_patch(view, patch)
            elif patch_type == "strategic":
                result = strategic_merge(view, patch)
            else:
                result = json_patch(view, patch)
            if not isinstance(result, dict):
                raise errors.bad_request("the patch did not produce an object")
            meta = result.setdefault("metadata", {})
            if meta.get("resourceVersion") not in (None, current["metadata"]["resourceVersion"]):
                raise errors.conflict(res.group, res.plural, name)
            if meta.get("name", name) != name:
                raise errors.bad_request("the name of the object cannot be changed by a patch")
            if res.namespaced:
                meta.setdefault("namespace", namespace)
            return self._store_update(res, current, result, subresource, dry_run)

    def _apply(
        self,
        res: Resource,
        namespace: str,
        name: str,
        current: dict | None,
        applied: object,
        field_manager: str,
        force: bool,
        dry_run: bool,
    ) -> dict:
        if not field_manager:
            raise errors.ApiError(
                422, "Invalid", "PATCH, application/apply-patch+yaml: fieldManager is required"
            )
        if not isinstance(applied, dict):
            raise errors.bad_request("the applied configuration is not an object")
        self._check_body(res, applied, namespace)
        self._unknown_fields(res, applied, applied=True)
        if applied["metadata"].get("name", name) != name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        if current is None:
            obj = server_side_apply(None, applied, field_manager, force, self.now())
            obj["metadata"]["name"] = name
            return self.create(res, namespace, obj, dry_run=dry_run)
        result = server_side_apply(
            to_version(res, current), applied, field_manager, force, self.now()
        )
        return self._store_update(res, current, result, "", dry_run)

    def delete(
        self,
        res: Resource,
        namespace: str,
        name: str,
        propagation: str = "",
        *,
        dry_run: bool = False,
        grace_period: int | None = None,
        preconditions: dict | None = None,
    ) -> dict:
        """DELETE: remove at once; dependents go too (``Background``/``Foreground``) or lose
        their ownerReference (``Orphan``).

        The answer is what the API server answers: the object itself for kinds whose
        deletion is graceful or finalized there (pods, namespaces, services, PVCs, CRDs)
        and for ``Foreground`` deletion, marked with ``deletionTimestamp``; a ``Status``
        with the name and uid for everything else.
        """
        if res.kind == "Namespace" and name in ("default", "kube-system", "kube-public"):
            raise errors.ApiError(
                403,
                "Forbidden",
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                {"name": name, "kind": "namespaces"},
            )
        with self.store.lock:
            current = self.store.get(res, namespace, name)
            if current is None:
                raise errors.not_found(res.group, res.plural, name)
            for key in ("uid", "resourceVersion"):
                wanted = (preconditions or {}).get(key)
                if wanted and wanted != current["metadata"].get(key):
                    label = key[0].upper() + key[1:]
                    what = errors.qualified(res.group, res.plural)
                    raise errors.ApiError(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {what} "{name}": Precondition '
                        f"failed: {label} in precondition: {wanted}, {label} in object meta: "
                        f"{current['metadata'].get(key)}",
                        {"name": name, "group": res.group, "kind": res.plural},
                    )
            answer = self._deletion_answer(res, current, propagation, grace_period)
            if dry_run:
                return answer
            gone = self.store.remove(res, namespace, name)
            uid = gone["metadata"].get("uid", "")
            if res.kind == "Service":
                # The endpoints controller removes a deleted Service's Endpoints.
                self.store.remove(by_plural("", "endpoints"), namespace, name)
            if res.kind == "Namespace":
                self._delete_namespace_contents(name)
            elif res.kind == "CustomResourceDefinition":
                self._delete_custom_objects(gone)
            elif propagation == "Orphan":
                self._orphan_dependents(uid)
            else:
                self._delete_dependents(uid)
        return answer

    def _deletion_answer(
        self, res: Resource, obj: dict, propagation: str, grace_period: int | None
    ) -> dict:
        meta = obj["metadata"]
        if res.kind not in _RETURNS_DELETED and propagation != "Foreground":
            details = {"name": meta["name"], "kind": res.plural, "uid": meta.get("uid", "")}
            if res.group:
                details["group"] = res.group
            return errors.status_body(200, "", "", details)
        answer = self._typed(res, to_version(res, copy.deepcopy(obj)))
        answer["metadata"]["deletionTimestamp"] = self.now()
        if res.kind == "Pod":
            grace = grace_period
            if grace is None:
                grace = int(obj.get("spec", {}).get("terminationGracePeriodSeconds", 30))
            answer["metadata"]["deletionGracePeriodSeconds"] = grace
        else:
            answer["metadata"]["deletionGracePeriodSeconds"] = 0
        if propagation == "Foreground":
            finalizers = answer["metadata"].setdefault("finalizers", [])
            if "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
        if res.kind == "Namespace":
            answer.setdefault("status", {})["phase"] = "Terminating"
        return answer

    def delete_collection(
        self,
        res: Resource,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        *,
        dry_run: bool = False,
        propagation: str = "",
    ) -> dict:
        """DELETE on a collection: every object the selectors pick (a list of them)."""
        doc = self.list(res, namespace, label_selector, field_selector)
        for item in doc["items"]:
            meta = item["metadata"]
            try:
                self.delete(
                    res, meta.get("namespace", ""), meta["name"], propagation, dry_run=dry_run
                )
            except errors.ApiError:
                pass
        return doc

    def _delete_custom_objects(self, crd: dict) -> None:
        """Deleting a CustomResourceDefinition deletes every object of its kind."""
        for served in custom_resources(crd)[:1]:
            for _, ns, name in self.store.keys(served):
                gone = self.store.remove(served, ns, name)
                if gone:
                    self._delete_dependents(gone["metadata"].get("uid", ""))

    def _orphan_dependents(self, owner_uid: str) -> None:
        """What the garbage collector does for ``Orphan``: drop the ownerReference."""
        if not owner_uid:
            return
        for res in self.storage_resources():
            for _, ns, name in self.store.keys(res):
                obj = self.store.get(res, ns, name)
                owners = (obj or {}).get("metadata", {}).get("ownerReferences") or []
                kept = [o for o in owners if o.get("uid") != owner_uid]
                if len(kept) != len(owners):
                    if kept:
                        obj["metadata"]["ownerReferences"] = kept
                    else:
                        obj["metadata"].pop("ownerReferences")
                    self.store.put(res, obj)

    def _delete_namespace_contents(self, namespace: str) -> None:
        for res in self.storage_resources():
            if res.namespaced:
                for _, ns, name in self.store.keys(res):
                    if ns == namespace:
                        self.store.remove(res, ns, name)

    def _delete_dependents(self, owner_uid: str) -> None:
        if not owner_uid:
            return
        for res in self.storage_resources():
            for _, ns, name in self.store.keys(res):
                obj = self.store.get(res, ns, name)
                owners = (obj or {}).get("metadata", {}).get("ownerReferences") or []
                if any(o.get("uid") == owner_uid for o in owners):
                    gone = self.store.remove(res, ns, name)
                    if gone:
                        self._delete_dependents(gone["metadata"].get("uid", ""))

    # --- scale subresource -------------------------------------------------------

    def get_scale(self, res: Resource, namespace: str, name: str) -> dict:
        """``GET .../scale``: an ``autoscaling/v1`` Scale."""
        obj = self.get(res, namespace, name)
        meta = obj["metadata"]
        match = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {
                "replicas": obj.get("status", {}).get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in match.items()),
            },
        }

    def update_scale(
        self,
        res: Resource,
        namespace: str,
        name: str,
        patch_type: str | None,
        body: object,
        *,
        dry_run: bool = False,
    ) -> dict:
        """PUT or PATCH ``.../scale``: set ``spec.replicas`` of the workload
        (with ``dry_run``, answer the Scale it would be and change nothing)."""
        with self.store.lock:
            scale = self.get_scale(res, namespace, name)
            if patch_type == "merge" or patch_type == "strategic":
                scale = merge_patch(scale, body)
            elif patch_type == "json":
                scale = json_patch(scale, body)
            elif isinstance(body, dict):
                sent_rv = (body.get("metadata") or {}).get("resourceVersion")
                if sent_rv and sent_rv != scale["metadata"]["resourceVersion"]:
                    raise errors.conflict(res.group, res.plural, name)
                scale = body
            replicas = (scale.get("spec") or {}).get("replicas", 0)
            if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
                raise errors.invalid(
                    "autoscaling",
                    "scales",
                    "Scale",
                    name,
                    f"spec.replicas: Invalid value: {replicas!r}: must be a non-negative integer",
                )
            if dry_run:
                answer = self.get_scale(res, namespace, name)
                answer["spec"]["replicas"] = replicas
                return answer
            current = self.store.get(res, namespace, name)
            new = copy.deepcopy(current)
            new.setdefault("spec", {})["replicas"] = replicas
            self._store_update(res, current, new, "")
            return self.get_scale(res, namespace, name)
