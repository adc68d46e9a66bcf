"""``flask images copy SRC DST``: copy one image between registries from the command line.

A Flask plugin command (pyproject.toml's ``flask.commands`` entry point): it needs
no app, so ``flask`` finds it without building one and it starts in a fraction of
a second, as a per-image script needs.
"""

from __future__ import annotations

import json

import click

from jobs.oci.registry import Credentials, RegistryError, copy_image

images_cli = click.Group("images", help="Copy container images between registries.")


def _credentials(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    try:
        return Credentials.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@images_cli.command("copy")
@click.argument("src")
@click.argument("dst")
@click.option(
    "--engine",
    type=click.Choice(["registry", "docker"]),
    default="registry",
    show_default=True,
    help="registry: registry-to-registry over the OCI API; docker: pull/tag/push via dockerd.",
)
@click.option(
    "--src-creds",
    envvar="SLIPWAY_SRC_CREDS",
    callback=_credentials,
    metavar="USER:PASS",
    help="Source registry credentials (or SLIPWAY_SRC_CREDS; default: Docker config).",
)
@click.option(
    "--dest-creds",
    envvar="SLIPWAY_DEST_CREDS",
    callback=_credentials,
    metavar="USER:PASS",
    help="Target registry credentials (or SLIPWAY_DEST_CREDS; default: Docker config).",
)
@click.option("--plain-http", is_flag=True, help="Talk plain HTTP to both registries.")
@click.option("--concurrency", default=4, show_default=True, help="Blobs copied at once.")
@click.option("--docker-host", default=None, help="Docker daemon URL for --engine docker.")
def copy_command(src, dst, engine, src_creds, dest_creds, plain_http, concurrency, docker_host):
    """Copy SRC to DST and print one JSON line with the target digest and counts."""
    try:
        if engine == "docker":
            # The docker SDK costs start-up time only the docker engine needs.
            from jobs.oci.docker_engine import copy_image_with_docker

            result = copy_image_with_docker(
                src, dst, src_auth=src_creds, dst_auth=dest_creds, docker_host=docker_host
            )
        else:
            plain = True if plain_http else None
            result = copy_image(
                src,
                dst,
                src_auth=src_creds,
                dst_auth=dest_creds,
                src_plain_http=plain,
                dst_plain_http=plain,
                concurrency=concurrency,
            )
    except (RegistryError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    line = {
        "digest": result.digest,
        "bytes_copied": result.bytes_copied,
        "blobs_mounted": result.blobs_mounted,
        "blobs_skipped": result.blobs_skipped,
    }
    if result.reduced_to_platform:
        line["reduced_to_platform"] = result.reduced_to_platform
    click.echo(json.dumps(line))
