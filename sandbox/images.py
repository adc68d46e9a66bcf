"""Build real, small OCI/Docker images in Python and push them over the distribution API.

Used by the demo (``make run`` pushes a few images into a local registry), by
the image-copy tests and benchmark, and by the web app's tests::

    from sandbox.images import push_demo_image
    digest = push_demo_image("127.0.0.1:5000", "demo/web", "1.0")
    index_digest = push_demo_image(
        "127.0.0.1:5000", "demo/web", "multi", platforms=("linux/amd64", "linux/arm64")
    )

Each layer is a tar holding one file of seeded random bytes, so the same
arguments always give the same digests. Layers are generated and uploaded as a
stream (chunked PATCH), never held in memory, so big layers are cheap in RAM.
"""

from __future__ import annotations

import hashlib
import json
import random
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from jobs.oci.auth import Credentials
from jobs.oci.transport import RegistryClient

CHUNK = 1 << 20

MEDIA_TYPES = {
    "oci": {
        "index": "application/vnd.oci.image.index.v1+json",
        "manifest": "application/vnd.oci.image.manifest.v1+json",
        "config": "application/vnd.oci.image.config.v1+json",
        "layer_gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
        "layer_tar": "application/vnd.oci.image.layer.v1.tar",
    },
    "docker": {
        "index": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifest": "application/vnd.docker.distribution.manifest.v2+json",
        "config": "application/vnd.docker.container.image.v1+json",
        "layer_gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "layer_tar": "application/vnd.docker.image.rootfs.diff.tar",
    },
}


@dataclass(frozen=True)
class Blob:
    """A pushed blob as a manifest describes it."""

    media_type: str
    digest: str
    size: int

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def push_demo_image(
    registry_address: str,
    repository: str,
    tag: str,
    *,
    platforms: Sequence[str] = ("linux/amd64",),
    layer_sizes: Sequence[int] = (4096, 16384),
    auth: Credentials | tuple[str, str] | None = None,
    seed: int | str = 0,
    flavor: str = "oci",
    compress: bool = True,
    plain_http: bool | None = None,
) -> str:
    """Push an image to ``registry_address/repository:tag``; return its manifest digest.

    One platform gives an image manifest; several give an index (OCI image
    index, or a Docker manifest list with ``flavor="docker"``) whose children
    are pushed first. ``layer_sizes`` are the sizes of the random file in each
    layer. ``compress=False`` pushes plain tar layers (fast for big data).
    ``plain_http=None`` uses HTTP for loopback addresses, as Docker does.
    """
    if isinstance(auth, tuple):
        auth = Credentials(*auth)
    with RegistryClient(registry_address, credentials=auth, plain_http=plain_http) as client:
        return _push_image(client, repository, tag, platforms, layer_sizes, seed, flavor, compress)


def _push_image(
    client: RegistryClient,
    repository: str,
    tag: str,
    platforms: Sequence[str],
    layer_sizes: Sequence[int],
    seed: int | str,
    flavor: str,
    compress: bool,
) -> str:
    types = MEDIA_TYPES[flavor]
    children = []
    for platform in platforms:
        manifest = _build_manifest(
            client, repository, platform, layer_sizes, f"{seed}-{platform}", types, compress
        )
        if len(platforms) == 1:
            return put_manifest(client, repository, tag, manifest, types["manifest"])
        digest = put_manifest(client, repository, None, manifest, types["manifest"])
        os_name, arch = platform.split("/")[:2]
        children.append(
            {
                "mediaType": types["manifest"],
                "digest": digest,
                "size": len(manifest),
                "platform": {"architecture": arch, "os": os_name},
            }
        )
    index = {"schemaVersion": 2, "mediaType": types["index"], "manifests": children}
    return put_manifest(client, repository, tag, _dumps(index), types["index"])


def put_manifest(
    client: RegistryClient, repository: str, tag: str | None, body: bytes, media_type: str
) -> str:
    """PUT manifest bytes under ``tag`` (or their digest); return the digest."""
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    client.request(
        "PUT",
        f"/v2/{repository}/manifests/{tag or digest}",
        scopes=[f"repository:{repository}:pull,push"],
        data=body,
        headers={"Content-Type": media_type},
        ok=(201,),
    )
    return digest


def push_blob(
    client: RegistryClient, repository: str, chunks: Iterator[bytes], media_type: str
) -> Blob:
    """Stream ``chunks`` into a new blob (POST, chunked PATCH, PUT ?digest)."""
    scopes = [f"repository:{repository}:pull,push"]
    resp = client.request("POST", f"/v2/{repository}/blobs/uploads/", scopes=scopes, ok=(202,))
    hasher = hashlib.sha256()
    size = 0

    def counted() -> Iterator[bytes]:
        nonlocal size
        for chunk in chunks:
            hasher.update(chunk)
            size += len(chunk)
            yield chunk

    resp = client.request(
        "PATCH",
        resp.headers["Location"],
        scopes=scopes,
        data=counted(),
        headers={"Content-Type": "application/octet-stream"},
        ok=(202,),
        retry=False,
    )
    digest = "sha256:" + hasher.hexdigest()
    client.request(
        "PUT", resp.headers["Location"], scopes=scopes, params={"digest": digest}, ok=(201,)
    )
    return Blob(media_type, digest, size)


def layer_tar_stream(size: int, seed: str, name: str = "data/payload.bin") -> Iterator[bytes]:
    """A one-file tar archive of ``size`` seeded random bytes, generated chunk by chunk."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    rng = random.Random(seed)
    left = size
    while left:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n
    yield b"\0" * ((-size) % tarfile.BLOCKSIZE + 2 * tarfile.BLOCKSIZE)


def _gzip(chunks: Iterator[bytes], hasher: hashlib._Hash) -> Iterator[bytes]:
    # wbits=31: gzip container with a zero mtime, so output is deterministic.
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    for chunk in chunks:
        hasher.update(chunk)
        out = packer.compress(chunk)
        if out:
            yield out
    yield packer.flush()


def _hashed(chunks: Iterator[bytes], hasher: hashlib._Hash) -> Iterator[bytes]:
    for chunk in chunks:
        hasher.update(chunk)
        yield chunk


def _build_manifest(
    client: RegistryClient,
    repository: str,
    platform: str,
    layer_sizes: Sequence[int],
    seed: str,
    types: dict[str, str],
    compress: bool,
) -> bytes:
    layers, diff_ids = [], []
    for i, size in enumerate(layer_sizes):
        tar_hash = hashlib.sha256()
        tar = layer_tar_stream(size, f"{seed}-{i}", f"data/layer-{i}.bin")
        if compress:
            blob = push_blob(client, repository, _gzip(tar, tar_hash), types["layer_gzip"])
        else:
            blob = push_blob(client, repository, _hashed(tar, tar_hash), types["layer_tar"])
        layers.append(blob)
        diff_ids.append("sha256:" + tar_hash.hexdigest())
    os_name, arch = platform.split("/")[:2]
    config = {
        "architecture": arch,
        "os": os_name,
        "config": {"Cmd": ["/bin/true"], "Labels": {"io.slipway.demo": "true"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"slipway sandbox layer {i}"} for i in range(len(layers))],
    }
    config_blob = push_blob(client, repository, iter([_dumps(config)]), types["config"])
    manifest = {
        "schemaVersion": 2,
        "mediaType": types["manifest"],
        "config": config_blob.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    return _dumps(manifest)


def _dumps(document: dict) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True).encode()


__all__ = ["Blob", "layer_tar_stream", "push_blob", "push_demo_image", "put_manifest"]
