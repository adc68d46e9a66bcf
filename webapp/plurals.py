"""Counted nouns that read right: "1 service", "2 services", "1 registry", "0 registries"."""

from __future__ import annotations

_IRREGULAR = {"registry": "registries", "delivery": "deliveries", "is": "are"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, the word in its plural form unless the count is one."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {many or _IRREGULAR.get(word) or word + 's'}"
