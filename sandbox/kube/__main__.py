"""``python -m sandbox.kube --port N --state FILE``: run the sandbox cluster in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from sandbox.kube.config import SandboxConfig
from sandbox.kube.demo import demo_documents
from sandbox.kube.seed import load_yaml_documents
from sandbox.kube.server import start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.kube", description="Run the Slipway sandbox cluster."
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--state", help="JSON state file, loaded at start and kept up to date")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for the sandbox here")
    parser.add_argument("--seed", help="multi-document YAML of objects to create if missing")
    parser.add_argument(
        "--demo-registry",
        metavar="HOST:PORT",
        help="create the demo's namespaces and workloads, images from here",
    )
    parser.add_argument("--rollout-seconds", type=float, default=SandboxConfig.rollout_seconds)
    parser.add_argument(
        "--no-registry-check",
        action="store_true",
        help="do not ask loopback registries whether images exist",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = SandboxConfig(
        rollout_seconds=args.rollout_seconds, check_registries=not args.no_registry_check
    )
    seed = load_yaml_documents(args.seed) if args.seed else []
    if args.demo_registry:
        seed += demo_documents(args.demo_registry)
    sandbox = start(
        port=args.port,
        state_file=args.state,
        config=config,
        seed=seed,
        kubeconfig=args.kubeconfig,
    )
    logging.info("sandbox cluster listening on %s", sandbox.url)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    sandbox.stop()
    logging.info("sandbox cluster stopped")


if __name__ == "__main__":
    main()
