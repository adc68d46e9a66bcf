"""The parts below HTTP: patches, selectors, server-side apply bookkeeping, watch replay."""

from __future__ import annotations

import pytest

from sandbox.kube.api import Api
from sandbox.kube.apply import apply
from sandbox.kube.errors import ApiError
from sandbox.kube.patches import json_patch, merge_patch, strategic_merge
from sandbox.kube.resources import by_plural
from sandbox.kube.seed import ensure_cluster_basics
from sandbox.kube.selectors import parse_field_selector, parse_label_selector
from sandbox.kube.store import Store
from sandbox.kube.watch import watch_events

POD_SPEC = {
    "containers": [
        {
            "name": "app",
            "image": "a:1",
            "env": [{"name": "A", "value": "1"}],
            "ports": [{"containerPort": 80}],
        },
        {"name": "proxy", "image": "p:1"},
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
}


def test_strategic_merge_matches_list_elements_by_their_keys():
    patch = {
        "containers": [
            {
                "name": "app",
                "image": "a:2",
                "env": [{"name": "B", "value": "2"}],
                "ports": [{"containerPort": 80, "name": "http"}],
            },
            {"name": "proxy", "$patch": "delete"},
            {"name": "new", "image": "n:1"},
        ],
        "volumes": [{"name": "cache", "emptyDir": {}}],
        "$setElementOrder/containers": [],
    }
    merged = strategic_merge(POD_SPEC, patch)
    assert [c["name"] for c in merged["containers"]] == ["app", "new"]
    app = merged["containers"][0]
    assert app["image"] == "a:2"
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert app["ports"] == [{"containerPort": 80, "name": "http"}]
    assert [v["name"] for v in merged["volumes"]] == ["data", "cache"]
    assert "$setElementOrder/containers" not in merged
    assert POD_SPEC["containers"][0]["image"] == "a:1", "the input is not modified"


def test_strategic_merge_directives():
    target = {
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        "args": ["a", "b"],
        "finalizers": ["x", "y"],
    }
    patch = {
        "strategy": {"type": "Recreate", "$retainKeys": ["type"]},
        "args": ["c"],
        "$deleteFromPrimitiveList/finalizers": ["x"],
    }
    assert strategic_merge(target, patch) == {
        "strategy": {"type": "Recreate"},
        "args": ["c"],
        "finalizers": ["y"],
    }
    replaced = strategic_merge({"a": {"b": 1, "c": 2}}, {"a": {"$patch": "replace", "d": 3}})
    assert replaced == {"a": {"d": 3}}


def test_merge_patch_replaces_lists_and_deletes_nulls():
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1, 2]}, {"a": {"b": None}, "l": [3]}) == {
        "a": {"c": 2},
        "l": [3],
    }


def test_json_patch_operations_and_failed_test():
    doc = {"a": {"b": [1, 2]}, "c~d": 1}
    result = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "remove", "path": "/c~0d"},
            {"op": "copy", "from": "/a/b", "path": "/copy"},
            {"op": "move", "from": "/copy", "path": "/moved"},
            {"op": "test", "path": "/a/b/1", "value": 1},
            {"op": "replace", "path": "/a/b/3", "value": 30},
        ],
    )
    assert result == {"a": {"b": [0, 1, 2, 30]}, "moved": [0, 1, 2, 3]}
    with pytest.raises(ApiError) as caught:
        json_patch(doc, [{"op": "test", "path": "/c~0d", "value": 2}])
    assert caught.value.code == 422
    with pytest.raises(ApiError):
        json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app in (web, api)", True),
        ("app notin (web)", False),
        ("tier", False),
        ("!tier", True),
        ("app=web,!tier", True),
        ("app in (a,b),env=prod", False),
        ("", True),
    ],
)
def test_label_selectors(selector, expected):
    obj = {"metadata": {"labels": {"app": "web", "env": "dev"}}}
    assert parse_label_selector(selector)(obj) is expected


def test_bad_selectors_are_400():
    with pytest.raises(ApiError) as caught:
        parse_label_selector("app in web")
    assert caught.value.code == 400
    with pytest.raises(ApiError):
        parse_field_selector("metadata.name")


def test_field_selectors_read_nested_fields():
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Running"}}
    assert parse_field_selector("status.phase=Running,metadata.namespace=ns")(pod)
    assert not parse_field_selector("metadata.name!=p")(pod)
    assert parse_field_selector("spec.nodeName=")(pod)


def test_apply_removes_fields_only_its_manager_stopped_applying():
    first = apply(
        None,
        {"metadata": {"name": "x", "labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 2}},
        "helm",
        force=False,
    )
    assert first["metadata"]["labels"] == {"a": "1", "b": "2"}
    ops = apply(first, {"metadata": {"name": "x", "labels": {"c": "3"}}}, "ops", force=False)
    again = apply(ops, {"metadata": {"name": "x", "labels": {"a": "1"}}}, "helm", force=False)
    assert again["metadata"]["labels"] == {"a": "1", "c": "3"}
    assert "replicas" not in again["spec"]
    fields = {m["manager"]: m["fieldsV1"] for m in again["metadata"]["managedFields"]}
    assert fields["helm"] == {"f:metadata": {"f:labels": {"f:a": {}}}}
    assert fields["ops"] == {"f:metadata": {"f:labels": {"f:c": {}}}}


def test_force_conflicts_takes_only_the_conflicting_fields():
    helm = apply(
        None,
        {"metadata": {"name": "x", "labels": {"team": "a"}}, "spec": {"replicas": 2}},
        "helm",
        force=False,
    )
    # ops applies the same label value (co-owned) and a different replica count.
    applied = {"metadata": {"name": "x", "labels": {"team": "a"}}, "spec": {"replicas": 5}}
    with pytest.raises(ApiError, match='conflict with "helm": .spec.replicas') as info:
        apply(helm, applied, "ops", force=False)
    assert info.value.code == 409
    ops = apply(helm, applied, "ops", force=True)

    assert ops["spec"]["replicas"] == 5
    fields = {m["manager"]: m["fieldsV1"] for m in ops["metadata"]["managedFields"]}
    assert fields["helm"] == {"f:metadata": {"f:labels": {"f:team": {}}}}
    assert fields["ops"] == {
        "f:metadata": {"f:labels": {"f:team": {}}},
        "f:spec": {"f:replicas": {}},
    }


def test_watch_from_a_version_older_than_the_change_log_is_410():
    store = Store(log_size=3)
    api = Api(store)
    ensure_cluster_basics(api)
    configmaps = by_plural("", "configmaps")
    for n in range(5):
        api.create(configmaps, "default", {"metadata": {"name": f"cm{n}"}})
    events = list(watch_events(store, configmaps, "default", resource_version="1", timeout=1))
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    recent = str(store.resource_version - 2)
    events = list(watch_events(store, configmaps, None, resource_version=recent, timeout=0.2))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "cm3"),
        ("ADDED", "cm4"),
    ]
