"""Image copy benchmark: Slipway's registry engine vs ``skopeo copy --all`` vs dockerd.

Run from the repository root::

    .venv/bin/python benchmarks/image_copy.py [--images 8] [--layers 4] [--layer-mib 32]

Starts local docker-registry processes (one source, one fresh target per
engine) and a private dockerd, pushes N images of L gzip'd layers of random
(incompressible) data, then times, per engine, one copy per image run one after
another as a user's script would (the engines take turns image by image):

- cross-registry: source registry -> that engine's target registry;
- same-registry promotion: source repository -> another repository of the
  source registry.

It prints one table. Not run by ``make test``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.docker_engine import copy_image_with_docker  # noqa: E402
from jobs.registry import copy_image  # noqa: E402
from sandbox import services  # noqa: E402
from sandbox.images import push_demo_image  # noqa: E402

SKOPEO = "/usr/bin/skopeo"
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def served_digest(address: str, repo: str, tag: str) -> str:
    resp = requests.head(
        f"http://{address}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}, timeout=30
    )
    resp.raise_for_status()
    return resp.headers["Docker-Content-Digest"]


def skopeo_copy(src: str, dst: str) -> None:
    subprocess.run(
        [SKOPEO, "copy", "--all", "--quiet", "--src-tls-verify=false",
         "--dest-tls-verify=false", f"docker://{src}", f"docker://{dst}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def timed(copy: Callable[[str, str], object], src: str, dst: str) -> float:
    """Wall time of one copy; earlier writes are flushed first so they don't slow it."""
    os.sync()
    started = time.perf_counter()
    copy(src, dst)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mib", type=int, default=32)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    started: list[services.Service] = []
    try:
        source = services.start_registry(workdir / "source")
        started.append(source)
        targets = {}
        for engine in ("slipway", "skopeo", "docker"):
            targets[engine] = services.start_registry(workdir / f"target-{engine}")
            started.append(targets[engine])
        dockerd = services.start_dockerd(workdir / "dockerd")
        started.append(dockerd)

        sizes = [args.layer_mib << 20] * args.layers
        t0 = time.perf_counter()
        digests = {}
        for i in range(args.images):
            repo = f"bench/app-{i}"
            digests[repo] = push_demo_image(
                source.address, repo, "1", layer_sizes=sizes, seed=f"bench-{i}"
            )
        total_mib = args.images * args.layers * args.layer_mib
        print(
            f"setup: {args.images} images x {args.layers} layers x {args.layer_mib} MiB "
            f"= {total_mib} MiB pushed in {time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
        )

        engines: dict[str, Callable[[str, str], object]] = {
            "slipway (registry API)": lambda s, d: copy_image(s, d),
            "skopeo copy --all": skopeo_copy,
            "docker pull+tag+push": lambda s, d: copy_image_with_docker(
                s, d, docker_host=dockerd.base_url
            ),
        }
        keys = dict(zip(engines, ("slipway", "skopeo", "docker"), strict=True))
        cross = dict.fromkeys(engines, 0.0)
        promote = dict.fromkeys(engines, 0.0)
        # Engines take turns image by image, so background load hits them alike.
        for repo in digests:
            for name, copy in engines.items():
                target = targets[keys[name]].address
                cross[name] += timed(copy, f"{source.address}/{repo}:1", f"{target}/{repo}:1")
            for name, copy in engines.items():
                promoted = f"{source.address}/promoted-{keys[name]}/{repo}:1"
                promote[name] += timed(copy, f"{source.address}/{repo}:1", promoted)
            print(f"done: {repo}", file=sys.stderr)
        rows = []
        for name in engines:
            key = keys[name]
            kept = all(
                served_digest(targets[key].address, repo, "1") == digest
                and served_digest(source.address, f"promoted-{key}/{repo}", "1") == digest
                for repo, digest in digests.items()
            )
            rows.append((name, cross[name], promote[name], kept))
    finally:
        for svc in reversed(started):
            svc.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    base_cross, base_promote = rows[0][1], rows[0][2]
    n = args.images
    header = (
        f"{'engine':<24} {'cross-registry s':>16} {'per image s':>11} {'vs slipway':>10} "
        f"{'promotion s':>11} {'per image s':>11} {'vs slipway':>10} {'digests kept':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, cross_s, promote_s, kept in rows:
        print(
            f"{name:<24} {cross_s:>16.2f} {cross_s / n:>11.2f} {cross_s / base_cross:>9.1f}x "
            f"{promote_s:>11.2f} {promote_s / n:>11.3f} {promote_s / base_promote:>9.1f}x "
            f"{'yes' if kept else 'no':>12}"
        )


if __name__ == "__main__":
    main()
