"""Copy one image (and every child of an index) between registries, blob by blob."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from jobs.oci.auth import repository_scope
from jobs.oci.blobs import CHUNK_SIZE, BlobCopier
from jobs.oci.errors import DigestMismatchError, RegistryError
from jobs.oci.manifest import ACCEPT, Descriptor, Manifest
from jobs.oci.ref import ImageRef
from jobs.oci.transport import RegistryClient


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
        self._progress = progress
        self._lock = threading.Lock()
        self.src_scopes = (repository_scope(src.repository, "pull"),)
        self.dst_scopes = (repository_scope(dst.repository, "pull,push"),)
        self.blobs = BlobCopier(
            src,
            dst,
            src_client,
            dst_client,
            on_bytes=self._count_bytes,
            chunk_size=chunk_size,
            upload_chunk_size=upload_chunk_size,
        )
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
        outcome = self.blobs.copy(blob)
        with self._lock:
            if outcome == "skipped":
                self.result.blobs_skipped += 1
            elif outcome == "mounted":
                self.result.blobs_mounted += 1
            else:
                self.result.blobs_copied += 1
            self._blobs_done += 1
        self._report("blob", f"{blob.digest} {outcome}")

    def _count_bytes(self, n: int) -> None:
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
