"""Download responses: a ``Content-Disposition`` that is safe for any file name."""

from __future__ import annotations

import re
from urllib.parse import quote

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def attachment(filename: str) -> dict[str, str]:
    """Headers that make ``filename`` a download (RFC 6266 with RFC 5987's ``filename*``).

    Old clients read the ASCII ``filename``; others the exact UTF-8 name. Quotes,
    semicolons, line breaks and non-Latin letters never reach the header raw.
    """
    fallback = _UNSAFE.sub("_", filename).strip("_.-") or "download"
    exact = quote(filename, safe="")
    return {"Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"}
