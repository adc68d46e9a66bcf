"""Copy one blob between repositories: skip, mount, or stream it with its digest checked."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator

import requests
import urllib3

from jobs.oci.auth import repository_scope
from jobs.oci.errors import DigestMismatchError, RegistryError
from jobs.oci.manifest import Descriptor
from jobs.oci.ref import ImageRef
from jobs.oci.transport import RegistryClient, with_retries

CHUNK_SIZE = 1 << 20
FALLBACK_UPLOAD_CHUNK = 8 << 20  # first chunk size tried after a 413 on a whole-blob PUT
MIN_UPLOAD_CHUNK = 256 << 10


class _SizedBody:
    """An iterable request body with a known length, so it is sent with Content-Length."""

    def __init__(self, chunks: Iterator[bytes], size: int):
        self._chunks = chunks
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks


class BlobCopier:
    """Copies blobs of ``src``'s repository into ``dst``'s; safe to use from several threads.

    For each blob: HEAD the target (skip if present); on the same registry try a
    cross-repository mount; else stream it from the source into one PUT (or
    PATCH chunks), hashing on the way. ``on_bytes`` hears of streamed bytes (a
    negative count takes back the bytes of a failed try).
    """

    def __init__(
        self,
        src: ImageRef,
        dst: ImageRef,
        src_client: RegistryClient,
        dst_client: RegistryClient,
        *,
        on_bytes: Callable[[int], None],
        chunk_size: int = CHUNK_SIZE,
        upload_chunk_size: int | None = None,
    ) -> None:
        self.src, self.dst = src, dst
        self.src_client, self.dst_client = src_client, dst_client
        self.chunk_size = chunk_size
        self.upload_chunk_size = upload_chunk_size
        self._on_bytes = on_bytes
        self._lock = threading.Lock()
        self.same_registry = src.api_host == dst.api_host
        self.src_scopes = (repository_scope(src.repository, "pull"),)
        self.dst_scopes = (repository_scope(dst.repository, "pull,push"),)
        self.mount_scopes = self.dst_scopes + self.src_scopes

    def copy(self, blob: Descriptor) -> str:
        """Copy ``blob``; return ``"skipped"``, ``"mounted"`` or ``"copied"``."""
        while True:
            try:
                outcome = with_retries(lambda: self._copy_blob_once(blob), self.dst_client.retry)
                break
            except RegistryError as err:
                if err.status != 413 or not self._smaller_upload_chunks():
                    raise
        return outcome

    def _smaller_upload_chunks(self) -> bool:
        """After a 413 (body too large, often a proxy limit): upload in smaller chunks."""
        with self._lock:
            current = self.upload_chunk_size or FALLBACK_UPLOAD_CHUNK * 2
            if current <= MIN_UPLOAD_CHUNK:
                return False
            self.upload_chunk_size = max(MIN_UPLOAD_CHUNK, current // 2)
            return True

    def _copy_blob_once(self, blob: Descriptor) -> str:
        dst_repo = self.dst.repository
        image = str(self.dst)
        head = self.dst_client.request(
            "HEAD",
            f"/v2/{dst_repo}/blobs/{blob.digest}",
            scopes=self.dst_scopes,
            ok=(200, 404),
            image=image,
        )
        if head.status_code == 200:
            return "skipped"
        if self.same_registry and self.src.repository != dst_repo:
            resp = self.dst_client.request(
                "POST",
                f"/v2/{dst_repo}/blobs/uploads/",
                params={"mount": blob.digest, "from": self.src.repository},
                scopes=self.mount_scopes,
                ok=(201, 202),
                image=image,
            )
            if resp.status_code == 201:
                return "mounted"
        else:
            resp = self.dst_client.request(
                "POST",
                f"/v2/{dst_repo}/blobs/uploads/",
                scopes=self.dst_scopes,
                ok=(202,),
                image=image,
            )
        upload_url = resp.headers["Location"]
        counted = [0]
        try:
            self._stream_blob(blob, upload_url, counted)
        except BaseException:
            self._cancel_upload(upload_url)
            self._count_bytes(-counted[0], counted)  # the retry streams them again
            raise
        return "copied"

    def _stream_blob(self, blob: Descriptor, upload_url: str, counted: list[int]) -> None:
        source = self.src_client.request(
            "GET",
            f"/v2/{self.src.repository}/blobs/{blob.digest}",
            scopes=self.src_scopes,
            stream=True,
            image=str(self.src),
        )
        with source:
            chunks = self._verified_chunks(source, blob, counted)
            chunk_size = self.upload_chunk_size
            if chunk_size and blob.size > chunk_size:
                upload_url, body = self._patch_chunks(chunks, upload_url, chunk_size), b""
            elif blob.size:
                body = _SizedBody(chunks, blob.size)
            else:
                body = b"".join(chunks)  # requests would send an empty iterable chunked
            resp = self.dst_client.request(
                "PUT",
                upload_url,
                params={"digest": blob.digest},
                data=body,
                headers={"Content-Type": "application/octet-stream"},
                scopes=self.dst_scopes,
                ok=(201,),
                image=str(self.dst),
                retry=False,
            )
        returned = resp.headers.get("Docker-Content-Digest")
        if returned and returned != blob.digest:
            raise DigestMismatchError(
                f"registry {self.dst.registry} stored blob {blob.digest} of {self.dst} as "
                f"{returned}",
                registry=self.dst.registry,
                image=str(self.dst),
            )

    def _patch_chunks(self, chunks: Iterator[bytes], upload_url: str, chunk_size: int) -> str:
        """Send the blob as PATCHes of ``chunk_size`` bytes; return the URL to commit with PUT.

        Holds at most one upload chunk (plus one read chunk) in memory.
        """
        buffer = bytearray()
        offset = 0

        def send(data: bytes) -> None:
            nonlocal upload_url, offset
            resp = self.dst_client.request(
                "PATCH",
                upload_url,
                data=data,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(data) - 1}",
                },
                scopes=self.dst_scopes,
                ok=(202,),
                image=str(self.dst),
                retry=False,
            )
            upload_url = resp.headers.get("Location", upload_url)
            offset += len(data)

        for chunk in chunks:
            buffer += chunk
            while len(buffer) >= chunk_size:
                send(bytes(buffer[:chunk_size]))
                del buffer[:chunk_size]
        if buffer:
            send(bytes(buffer))
        return upload_url

    def _verified_chunks(
        self, source: requests.Response, blob: Descriptor, counted: list[int]
    ) -> Iterator[bytes]:
        """Source bytes, hashed as they pass; the last chunk is held back until the hash checks.

        Holding back the last chunk means a corrupt blob never completes its upload.
        """
        hasher = hashlib.sha256()
        received = 0
        held: bytes | None = None
        try:
            for chunk in source.raw.stream(self.chunk_size, decode_content=False):
                if not chunk:
                    continue
                hasher.update(chunk)
                received += len(chunk)
                if held is not None:
                    yield held
                    self._count_bytes(len(held), counted)
                held = chunk
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RegistryError(
                f"lost the connection to registry {self.src.registry} while reading blob "
                f"{blob.digest} of {self.src}: {exc.__class__.__name__}",
                registry=self.src.registry,
                image=str(self.src),
                transient=True,
            ) from exc
        digest = "sha256:" + hasher.hexdigest()
        if received != blob.size or digest != blob.digest:
            raise DigestMismatchError(
                f"blob {blob.digest} of {self.src} from registry {self.src.registry} arrived "
                f"as {received} bytes hashing to {digest} (expected {blob.size} bytes); "
                "the source registry is corrupt or the transfer was cut",
                registry=self.src.registry,
                image=str(self.src),
                transient=received < blob.size,
            )
        if held is not None:
            yield held
            self._count_bytes(len(held), counted)

    def _cancel_upload(self, upload_url: str) -> None:
        try:
            self.dst_client.request(
                "DELETE", upload_url, scopes=self.dst_scopes, ok=(204, 404), retry=False
            )
        except RegistryError:
            pass  # an abandoned upload session expires on its own

    def _count_bytes(self, n: int, counted: list[int]) -> None:
        counted[0] += n
        self._on_bytes(n)
