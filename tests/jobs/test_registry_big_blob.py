"""A 300 MB layer copies in bounded memory (measured in a child process)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from sandbox.images import push_demo_image

LAYER = 300 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, resource, sys
from jobs.oci.registry import copy_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = copy_image(sys.argv[1], sys.argv[2])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "after_kib": after, "digest": result.digest,
                  "bytes": result.bytes_copied}))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_300mb_layer_copies_with_bounded_memory(registry, second_registry):
    repo = f"bigblob/app-{uuid.uuid4().hex[:8]}"
    digest = push_demo_image(registry.address, repo, "1", layer_sizes=(LAYER,), compress=False)

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            f"{registry.address}/{repo}:1",
            f"{second_registry.address}/{repo}:1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    report = json.loads(out.stdout)

    assert report["digest"] == digest
    assert report["bytes"] > LAYER
    growth_mib = (report["after_kib"] - report["before_kib"]) / 1024
    assert growth_mib < 100, f"peak RSS grew by {growth_mib:.0f} MiB"
    served = requests.get(
        f"http://{second_registry.address}/v2/{repo}/manifests/1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    layer = served.json()["layers"][0]
    head = requests.head(f"http://{second_registry.address}/v2/{repo}/blobs/{layer['digest']}")
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == layer["size"] > LAYER
