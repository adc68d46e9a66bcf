"""Helm values: image paths, global variables, parsing limits and diffs (pure Python)."""

from __future__ import annotations

import copy

import pytest

from jobs.helm.values import (
    ImagePath,
    ImagePathError,
    ValuesError,
    apply_global_variables,
    detect_image_paths,
    dump_values,
    format_image_paths,
    parse_image_paths,
    parse_values,
    read_images,
    rewrite_images,
    values_diff,
)

LIMIT = 64 * 1024

SHOP_VALUES = """\
replicaCount: 2
image:
  repository: registry.local/shop/web
  tag: "1.0"
  pullPolicy: IfNotPresent
frontend:
  image:
    registry: docker.io
    repository: bitnami/nginx
    tag: 1.25.3
  replicas: 1
backend:
  image: registry.local/shop/api:2.4.1
  initImage: busybox:1.36
  logLevel: info
git:
  repository: https://git.local/shop.git
  tag: main
sidecars:
  - image: registry.local/shop/proxy:1.0
"""


@pytest.fixture
def shop():
    return parse_values(SHOP_VALUES, LIMIT)


def test_detects_each_image_form_at_any_depth(shop):
    labels = [path.label for path in detect_image_paths(shop)]

    assert labels == [
        "image.repository+image.tag",
        "frontend.image.registry+frontend.image.repository+frontend.image.tag",
        "backend.image",
        "backend.initImage",
    ]


def test_detection_ignores_non_image_blocks_lists_and_non_text():
    values = {
        "git": {"repository": "https://git.local/x.git", "tag": "main"},
        "image": {"repository": "web", "tag": True},
        "enabled": {"image": False},
        "list": [{"image": "web:1"}],
        "spaces": {"image": "not an image"},
    }

    assert detect_image_paths(values) == []


def test_read_images_by_label(shop):
    images = read_images(shop, detect_image_paths(shop))

    assert images == {
        "image.repository+image.tag": "registry.local/shop/web:1.0",
        "frontend.image.registry+frontend.image.repository+frontend.image.tag": (
            "docker.io/bitnami/nginx:1.25.3"
        ),
        "backend.image": "registry.local/shop/api:2.4.1",
        "backend.initImage": "busybox:1.36",
    }


def test_read_images_uses_default_tag_for_an_empty_tag():
    values = {"image": {"repository": "registry.local/web", "tag": ""}}
    paths = detect_image_paths(values)

    assert read_images(values, paths, default_tag="3.1") == {
        "image.repository+image.tag": "registry.local/web:3.1"
    }
    assert read_images(values, paths) == {"image.repository+image.tag": "registry.local/web"}


def test_read_images_names_a_missing_key():
    with pytest.raises(ImagePathError, match="no key 'api.image'"):
        read_images({"api": {}}, [ImagePath.parse("api.image")])


def test_rewrite_sets_targets_and_leaves_the_input_alone(shop):
    before = copy.deepcopy(shop)
    paths = detect_image_paths(shop)
    targets = {
        "image.repository+image.tag": "127.0.0.1:5000/prod/web:v1",
        "frontend.image.registry+frontend.image.repository+frontend.image.tag": (
            "127.0.0.1:5000/prod/nginx:v1"
        ),
        "backend.image": "127.0.0.1:5000/prod/api:v1",
    }

    rewritten = rewrite_images(shop, paths, targets)

    assert shop == before
    assert rewritten["image"] == {
        "repository": "127.0.0.1:5000/prod/web",
        "tag": "v1",
        "pullPolicy": "IfNotPresent",
    }
    assert rewritten["frontend"]["image"] == {
        "registry": "127.0.0.1:5000",
        "repository": "prod/nginx",
        "tag": "v1",
    }
    assert rewritten["backend"]["image"] == "127.0.0.1:5000/prod/api:v1"
    assert rewritten["backend"]["initImage"] == "busybox:1.36"
    assert read_images(rewritten, paths)["image.repository+image.tag"] == (
        "127.0.0.1:5000/prod/web:v1"
    )


def test_rewrite_keeps_numeric_looking_tags_as_text():
    values = {"image": {"repository": "web", "tag": 1}}
    rewritten = rewrite_images(
        values, detect_image_paths(values), {"image.repository+image.tag": "web:2.0"}
    )

    assert "tag: '2.0'" in dump_values(rewritten)


@pytest.mark.parametrize(
    ("label", "target", "message"),
    [
        ("nope.image", "web:1", "No image path 'nope.image'"),
        ("backend.image", "127.0.0.1:5000/prod/api", "must be repository:tag"),
        ("backend.image", "api@sha256:" + "a" * 64, "must be repository:tag"),
        ("backend.image", "Not An Image:1", "not an image reference"),
    ],
)
def test_rewrite_refuses_bad_targets(shop, label, target, message):
    with pytest.raises(ImagePathError, match=message):
        rewrite_images(shop, detect_image_paths(shop), {label: target})


def test_image_path_text_round_trips(shop):
    paths = detect_image_paths(shop)
    text = format_image_paths(paths)

    assert parse_image_paths(text) == paths
    assert ImagePath.parse("a.image.registry+a.image.repository+a.image.tag").registry == (
        "a",
        "image",
        "registry",
    )


@pytest.mark.parametrize(
    "text",
    ["a+b+c+d", "image..tag", "image.repository+", "x\nx"],
)
def test_bad_image_path_text_is_refused(text):
    with pytest.raises(ImagePathError):
        parse_image_paths(text)


SERVICE_VALUES = {
    "web": {
        "replicaCount": 1,
        "logLevel": "info",
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
        "env": {"REGION": "eu"},
    },
    "api": {
        "replicaCount": 3,
        "resources": {"limits": {"cpu": "1"}},
    },
    "worker": {"queue": "jobs"},
}

GLOBALS = """\
logLevel: debug
replicaCount: 2
resources:
  limits:
    memory: 512Mi
env:
  NEW_KEY: never-added
"""


def test_apply_sets_only_keys_each_service_has():
    applied = {
        name: apply_global_variables(values, GLOBALS) for name, values in SERVICE_VALUES.items()
    }

    web, api, worker = applied["web"], applied["api"], applied["worker"]
    assert web.values == {
        "replicaCount": 2,
        "logLevel": "debug",
        "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
        "env": {"REGION": "eu"},
    }
    assert web.changed == ["logLevel", "replicaCount", "resources.limits.memory"]
    assert api.values == {"replicaCount": 2, "resources": {"limits": {"cpu": "1"}}}
    assert api.changed == ["replicaCount"]
    assert worker.values == {"queue": "jobs"}
    assert worker.changed == []


def test_reset_is_the_values_from_before_apply():
    before = copy.deepcopy(SERVICE_VALUES)

    for values in SERVICE_VALUES.values():
        applied = apply_global_variables(values, GLOBALS)
        applied.values["resources"] = "mutated after apply"

    assert SERVICE_VALUES == before


def test_apply_replaces_a_mapping_with_a_scalar_and_tells_types_apart():
    values = {"enabled": 1, "probe": {"path": "/health"}}

    applied = apply_global_variables(values, "enabled: true\nprobe: false\n")

    assert applied.values == {"enabled": True, "probe": False}
    assert applied.changed == ["enabled", "probe"]


def test_apply_with_unchanged_or_empty_globals_changes_nothing():
    values = {"logLevel": "info"}

    assert apply_global_variables(values, "logLevel: info\n").changed == []
    assert apply_global_variables(values, "") == (values, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "global variables must be a YAML mapping"),
        ("a: [\n", "global variables are not valid YAML"),
    ],
)
def test_apply_refuses_bad_global_blocks(text, message):
    with pytest.raises(ValuesError, match=message):
        apply_global_variables({"a": 1}, text)


def test_parse_values_keeps_dates_and_order_as_text():
    values = parse_values("b: 2024-01-01\na: '1.0'\n", LIMIT)

    assert values == {"b": "2024-01-01", "a": "1.0"}
    assert list(values) == ["b", "a"]
    assert parse_values("", LIMIT) == {}
    assert parse_values("# only a comment\n", LIMIT) == {}


def test_parse_values_enforces_the_size_limit_in_bytes():
    text = "key: " + "é" * 600 + "\n"
    assert len(text) < 1024 < len(text.encode())

    with pytest.raises(ValuesError, match="larger than 1 KiB"):
        parse_values(text, 1024)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "not a list"),
        ("just text\n", "not a single text"),
        ("42\n", "not a single int value"),
        ("a: [1, 2\n", "not valid YAML: line 2"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("a: 1\nb:\n  c: 1\n  c: 2\n", "line 4: the key 'c' appears twice"),
        ("a: !!python/object:os.system {}\n", "not valid YAML"),
        ("a: &a [*a]\n", "expand to more than"),
    ],
)
def test_parse_values_refuses_unusable_documents(text, message):
    with pytest.raises(ValuesError, match=message):
        parse_values(text, LIMIT)


def test_parse_values_refuses_an_alias_bomb():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    text = "\n".join(lines) + "\n"
    assert len(text) < 2048

    with pytest.raises(ValuesError, match="too many aliases"):
        parse_values(text, LIMIT)


def test_values_diff_shows_the_changed_lines():
    old = "image:\n  tag: '1.0'\nreplicas: 1\n"
    new = "image:\n  tag: '2.0'\nreplicas: 1"

    diff = values_diff(old, new)

    assert diff.startswith("--- environment\n+++ edited\n")
    assert "-  tag: '1.0'\n+  tag: '2.0'\n" in diff
    assert "replicas" in diff
    assert values_diff(old, old) == ""
    assert values_diff("a: 1", "a: 1\n") == ""


def test_dump_values_round_trips_through_parse(shop):
    assert parse_values(dump_values(shop), LIMIT) == shop
    assert dump_values({}) == ""


def test_pin_digests_puts_the_digest_on_the_tag_or_the_single_image_key():
    from jobs.helm.values import pin_digests

    digest = "sha256:" + "a" * 64
    values = {
        "image": {"repository": "reg.example.com/shop/api", "tag": "1.0"},
        "worker": {"image": "reg.example.com/shop/worker:1.0"},
        "other": {"image": "reg.example.com/shop/other:1.0"},
    }
    paths = parse_image_paths("image.repository+image.tag\nworker.image\nother.image")
    pinned = pin_digests(
        values, paths, {"image.repository+image.tag": digest, "worker.image": digest}
    )
    assert pinned["image"] == {"repository": "reg.example.com/shop/api", "tag": f"1.0@{digest}"}
    assert pinned["worker"]["image"] == f"reg.example.com/shop/worker:1.0@{digest}"
    assert pinned["other"]["image"] == "reg.example.com/shop/other:1.0"
    assert values["image"]["tag"] == "1.0"  # the input is left alone
    assert pin_digests(pinned, paths, {"worker.image": digest}) == pinned  # pinned once only
