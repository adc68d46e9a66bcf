"""Copy one image (and every child of an index) between registries, blob by blob."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import requests
import urllib3

from jobs.oci_auth import repository_scope
from jobs.oci_errors import DigestMismatchError, RegistryError
from jobs.oci_manifest import ACCEPT, Descriptor, Manifest
from jobs.oci_ref import ImageRef
from jobs.oci_transport import RegistryClient, with_retries

CHUNK_SIZE = 1 << 20
FALLBACK_UPLOAD_CHUNK = 8 << 20  # first chunk size tried after a 413 on a whole-blob PUT
MIN_UPLOAD_CHUNK = 256 << 10


@dataclass
class CopyResult:
    """What a copy did. ``digest`` is the target's top manifest digest."""

    source: str
    target: str
    digest: str
    media_type: str
    platforms: list[str] = field(default_factory=list)
    bytes_copied: int = 0
    blobs_copied: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    manifests_pushed: int = 0
    engine: str = "registry"
    reduced_to_platform: str | None = None  # set when an index became one platform's image

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CopyProgress:
    """One progress report; byte counts cover streamed blob data only."""

    event: str  # "start", "blob", "bytes", "manifest" or "done"
    bytes_done: int
    bytes_total: int
    blobs_done: int
    blobs_total: int
    detail: str = ""


ProgressCallback = Callable[[CopyProgress], None]


class _SizedBody:
    """An iterable request body with a known length, so it is sent with Content-Length."""

    def __init__(self, chunks: Iterator[bytes], size: int):
        self._chunks = chunks
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks


class ImageCopier:
    """Copies ``src`` to ``dst`` using one client per registry (one shared if the same)."""

    def __init__(
        self,
        src: ImageRef,
        dst: ImageRef,
        src_client: RegistryClient,
        dst_client: RegistryClient,
        *,
        concurrency: int = 4,
        progress: ProgressCallback | None = None,
        chunk_size: int = CHUNK_SIZE,
        upload_chunk_size: int | None = None,
    ) -> None:
        self.src, self.dst = src, dst
        self.src_client, self.dst_client = src_client, dst_client
        self.concurrency = max(1, concurrency)
        self.chunk_size = chunk_size
        self.upload_chunk_size = upload_chunk_size
        self._progress = progress
        self._lock = threading.Lock()
        self.same_registry = src.api_host == dst.api_host
        self.src_scopes = (repository_scope(src.repository, "pull"),)
        self.dst_scopes = (repository_scope(dst.repository, "pull,push"),)
        self.mount_scopes = self.dst_scopes + self.src_scopes
        self.result = CopyResult(source=str(src), target=str(dst), digest="", media_type="")
        self._bytes_total = 0
        self._blobs_total = 0
        self._blobs_done = 0

    def run(self) -> CopyResult:
        top = self.fetch_manifest(self.src.reference)
        if self.src.digest and top.digest != self.src.digest:
            raise DigestMismatchError(
                f"registry {self.src.registry} served manifest {top.digest} for {self.src}; "
                "the source registry is corrupt or tampered with",
                registry=self.src.registry,
                image=str(self.src),
            )
        if self.dst.digest and self.dst.digest != top.digest:
            raise RegistryError(
                f"target {self.dst} names digest {self.dst.digest} but the source is "
                f"{top.digest}; drop the digest from the target reference",
                image=str(self.dst),
            )
        ordered = self._manifest_tree(top)
        blobs = {b.digest: b for m in ordered for b in m.blobs()}
        self._blobs_total = len(blobs)
        self._bytes_total = sum(b.size for b in blobs.values())
        self._report("start", f"{len(ordered)} manifest(s), {len(blobs)} blob(s)")
        self._copy_blobs(list(blobs.values()))
        for manifest in ordered[:-1]:
            self.put_manifest(manifest, manifest.digest)
        self.put_manifest(top, self.dst.tag or top.digest)
        self.result.digest = top.digest
        self.result.media_type = top.media_type
        self.result.platforms = self._platforms(top)
        self._report("done", self.result.digest)
        return self.result

    def _manifest_tree(self, top: Manifest) -> list[Manifest]:
        """Every manifest to push, children before the index that lists them."""
        ordered: list[Manifest] = []
        for child in top.children():
            manifest = self.fetch_manifest(child.digest)
            if manifest.digest != child.digest:
                raise DigestMismatchError(
                    f"registry {self.src.registry} served {manifest.digest} for child "
                    f"{child.digest} of {self.src}; the source registry is corrupt",
                    registry=self.src.registry,
                    image=str(self.src),
                )
            ordered += self._manifest_tree(manifest)
        ordered.append(top)
        return ordered

    def _platforms(self, top: Manifest) -> list[str]:
        if top.is_index:
            return [
                c.platform for c in top.children() if c.platform and "unknown" not in c.platform
            ]
        config = top.document.get("config", {})
        if not config.get("digest") or config.get("size", 0) > (1 << 20):
            return []
        resp = self.src_client.request(
            "GET",
            f"/v2/{self.src.repository}/blobs/{config['digest']}",
            scopes=self.src_scopes,
            image=str(self.src),
        )
        try:
            doc = resp.json()
        except ValueError:
            return []
        if "os" not in doc or "architecture" not in doc:
            return []
        variant = f"/{doc['variant']}" if doc.get("variant") else ""
        return [f"{doc['os']}/{doc['architecture']}{variant}"]

    def fetch_manifest(self, reference: str) -> Manifest:
        resp = self.src_client.request(
            "GET",
            f"/v2/{self.src.repository}/manifests/{reference}",
            scopes=self.src_scopes,
            headers={"Accept": ACCEPT},
            image=f"{self.src.registry}/{self.src.repository}@{reference}"
            if reference.startswith("sha256:")
            else str(self.src),
        )
        manifest = Manifest.from_response(resp.content, resp.headers.get("Content-Type"))
        served = resp.headers.get("Docker-Content-Digest")
        if served and served.startswith("sha256:") and served != manifest.digest:
            raise DigestMismatchError(
                f"registry {self.src.registry} says {self.src} is {served} but its bytes hash "
                f"to {manifest.digest}; the manifest was altered in transit",
                registry=self.src.registry,
                image=str(self.src),
            )
        return manifest

    def put_manifest(self, manifest: Manifest, reference: str) -> None:
        image = f"{self.dst.registry}/{self.dst.repository}:{reference}"
        resp = self.dst_client.request(
            "PUT",
            f"/v2/{self.dst.repository}/manifests/{reference}",
            scopes=self.dst_scopes,
            data=manifest.raw,
            headers={"Content-Type": manifest.media_type},
            ok=(200, 201),
            image=image,
        )
        returned = resp.headers.get("Docker-Content-Digest")
        if returned and returned != manifest.digest:
            raise DigestMismatchError(
                f"registry {self.dst.registry} stored {image} as {returned}, not "
                f"{manifest.digest}; the target registry rewrote the manifest",
                registry=self.dst.registry,
                image=image,
            )
        with self._lock:
            self.result.manifests_pushed += 1
        self._report("manifest", reference)

    def _copy_blobs(self, blobs: list[Descriptor]) -> None:
        if len(blobs) <= 1 or self.concurrency == 1:
            for blob in blobs:
                self._copy_blob(blob)
            return
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="blob-copy") as pool:
            futures = [pool.submit(self._copy_blob, blob) for blob in blobs]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _copy_blob(self, blob: Descriptor) -> None:
        while True:
            try:
                outcome = with_retries(lambda: self._copy_blob_once(blob), self.dst_client.retry)
                break
            except RegistryError as err:
                if err.status != 413 or not self._smaller_upload_chunks():
                    raise
        with self._lock:
            if outcome == "skipped":
                self.result.blobs_skipped += 1
            elif outcome == "mounted":
                self.result.blobs_mounted += 1
            else:
                self.result.blobs_copied += 1
            self._blobs_done += 1
        self._report("blob", f"{blob.digest} {outcome}")

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
        with self._lock:
            self.result.bytes_copied += n
        self._report("bytes", "")

    def _report(self, event: str, detail: str) -> None:
        if self._progress is None:
            return
        with self._lock:
            report = CopyProgress(
                event,
                self.result.bytes_copied,
                self._bytes_total,
                self._blobs_done,
                self._blobs_total,
                detail,
            )
        self._progress(report)
