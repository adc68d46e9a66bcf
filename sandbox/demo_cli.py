"""``flask demo seed``: a Flask plugin command (see pyproject.toml), so the app never imports it."""

from __future__ import annotations

import click
from flask.cli import AppGroup

demo_cli = AppGroup("demo", help="The demo data of make run.")


@demo_cli.command("seed")
@click.option("--registry", "registry_address", required=True, help="host:port of the registry.")
@click.option("--kubeconfig", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--push/--no-push", default=True, help="Push the demo images first.")
def seed_command(registry_address: str, kubeconfig: str | None, push: bool) -> None:
    """Create (or refresh) the demo; print the users' passwords."""
    # Loaded only when the command runs: every ``flask`` command loads plugin modules.
    from sandbox.demo_seed import seed

    seed(registry_address, kubeconfig, push)
