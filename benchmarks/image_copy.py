"""Image copy benchmark: Slipway's registry engine vs ``skopeo copy --all`` vs dockerd.

Run from the repository root::

    .venv/bin/python benchmarks/image_copy.py [--images 8] [--layers 4] [--layer-mib 32]

Starts local docker-registry processes (one source, and per round one fresh
target per engine) and a private dockerd, pushes N images of L gzip'd layers of random
(incompressible) data, then times, per engine, one copy per image run one after
another as a user's script would (the engines take turns image by image; each
image counts with its best of ``--rounds`` tries, each round into fresh target
registries):

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

from jobs.oci.docker_engine import copy_image_with_docker  # noqa: E402
from jobs.oci.registry import copy_image  # noqa: E402
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


def _split(ref: str) -> tuple[str, str, str]:
    address, _, rest = ref.partition("/")
    repo, _, tag = rest.rpartition(":")
    return address, repo, tag


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
    parser.add_argument("--rounds", type=int, default=2, help="best of N rounds per image")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    started: list[services.Service] = []
    try:
        source = services.start_registry(workdir / "source")
        started.append(source)
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
        cross = {name: dict.fromkeys(digests, float("inf")) for name in engines}
        promote = {name: dict.fromkeys(digests, float("inf")) for name in engines}
        kept = dict.fromkeys(engines, True)
        # Engines take turns image by image, so background load hits them alike; each
        # round copies to new repositories, and the best round per image counts.
        for round_no in range(args.rounds):
            # Fresh target registries each round: nothing (not skopeo's blob-info cache,
            # not dockerd's layer metadata) can mount from an earlier round's copies.
            targets = {}
            for key in keys.values():
                targets[key] = services.start_registry(workdir / f"target-{key}-{round_no}")
                started.append(targets[key])
            for repo, digest in digests.items():
                src = f"{source.address}/{repo}:1"
                for name, copy in engines.items():
                    target = f"{targets[keys[name]].address}/{repo}:1"
                    cross[name][repo] = min(cross[name][repo], timed(copy, src, target))
                    kept[name] &= served_digest(*_split(target)) == digest
                for name, copy in engines.items():
                    target = f"{source.address}/r{round_no}-{keys[name]}/{repo}:1"
                    promote[name][repo] = min(promote[name][repo], timed(copy, src, target))
                    kept[name] &= served_digest(*_split(target)) == digest
                print(f"round {round_no + 1}: {repo} done", file=sys.stderr)
            for key in keys.values():
                targets[key].stop()
        rows = [
            (name, sum(cross[name].values()), sum(promote[name].values()), kept[name])
            for name in engines
        ]
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
    print(
        f"{n} images x {args.layers} layers x {args.layer_mib} MiB random data "
        f"({n * args.layers * args.layer_mib} MiB), best of {args.rounds} round(s) per image"
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
