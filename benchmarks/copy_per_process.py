"""One process per image, as a user's script runs it: ``flask images copy`` vs ``skopeo copy``.

Run from the repository root (the project installed in .venv, as ``make`` does)::

    .venv/bin/python benchmarks/copy_per_process.py [--images 20] [--rounds 3]

Starts two local docker-registry processes, pushes N small images (one platform,
two small layers) to the first, then copies each image to the second with one
new process per image: ``.venv/bin/python -m flask --app webapp images copy --plain-http``
and ``skopeo copy --all``, taking turns image by image, each round into a fresh
target repository. Also times each tool's ``--help`` (pure start-up). Prints one
table. Not run by ``make test``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox import services  # noqa: E402
from sandbox.images import push_demo_image  # noqa: E402

SKOPEO = "/usr/bin/skopeo"
FLASK = [sys.executable, "-m", "flask", "--app", "webapp"]


def run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "FLASK_DEBUG": "0"},
    )
    return time.perf_counter() - start


def slipway(src: str, dst: str) -> list[str]:
    return [*FLASK, "images", "copy", "--plain-http", src, dst]


def skopeo(src: str, dst: str) -> list[str]:
    return [
        SKOPEO, "copy", "--all", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
        f"docker://{src}", f"docker://{dst}",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        source = services.start_registry(Path(work) / "src")
        target = services.start_registry(Path(work) / "dst")
        try:
            names = [f"bench/app{i}" for i in range(args.images)]
            for i, name in enumerate(names):
                push_demo_image(source.address, name, "1", seed=i, layer_sizes=(65536, 262144))
            startup = {
                "slipway": min(run([*FLASK, "images", "copy", "--help"]) for _ in range(5)),
                "skopeo": min(run([SKOPEO, "copy", "--help"]) for _ in range(5)),
            }
            times: dict[str, list[float]] = {"slipway": [], "skopeo": []}
            for round_number in range(args.rounds):
                for name in names:
                    for engine, command in (("slipway", slipway), ("skopeo", skopeo)):
                        dst = f"{target.address}/{engine}{round_number}/{name}:1"
                        times[engine].append(run(command(f"{source.address}/{name}:1", dst)))
        finally:
            source.stop()
            target.stop()
    print(
        f"{args.images} images (2 layers, 320 KiB), {args.rounds} rounds, "
        "one process per copy, cross-registry"
    )
    columns = ("--help s", "median s", "p90 s", "total s", "vs slipway")
    print(f"{'tool':28} " + " ".join(f"{c:>10}" for c in columns))
    base = statistics.median(times["slipway"])
    for engine, label in (("slipway", "flask images copy"), ("skopeo", "skopeo copy --all")):
        values = sorted(times[engine])
        median = statistics.median(values)
        p90 = values[int(len(values) * 0.9) - 1]
        print(
            f"{label:28} {startup[engine]:10.3f} {median:10.3f} {p90:10.3f} "
            f"{sum(values):10.2f} {median / base:9.2f}x"
        )


if __name__ == "__main__":
    main()
