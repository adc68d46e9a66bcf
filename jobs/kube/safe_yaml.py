"""The one loader for YAML a person typed: size, depth and alias limits, plain data only.

Every YAML field (service templates, deployed state, kubeconfigs, values, global
variables) goes through ``load_documents``; any problem, however the text is
malformed, is a ``YamlInputError`` with a short message a person can act on.
Dates stay text (as Kubernetes and Helm read them) and a key may appear once.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml

# Expanded nodes (aliases counted as often as they are used): far beyond any real document.
MAX_NODES = 200_000
MAX_DEPTH = 100

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlInputError(ValueError):
    """YAML that cannot be accepted; the message says why.

    ``reason`` is ``size``, ``syntax`` or ``content`` and ``detail`` the problem
    alone, for callers that word the message their own way.
    """

    def __init__(self, message: str, *, reason: str = "content", detail: str = ""):
        super().__init__(message)
        self.reason = reason
        self.detail = detail or message


class TextLoader(_Base):
    """Safe loading that refuses duplicate keys and keeps dates as text."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base constructor reports unhashable keys
            if key in seen:
                mark = key_node.start_mark
                raise YamlInputError(f"line {mark.line + 1}: the key {key!r} appears twice")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(text: str, max_bytes: int, *, what: str = "YAML") -> list[Any]:
    """Every document of ``text`` (empty ones dropped), within the limits.

    ``what`` names the text in messages ("The values", "The kubeconfig").
    """
    if not isinstance(text, str):
        raise YamlInputError(f"{what} must be text.")
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise YamlInputError(
            f"{what} is larger than {max_bytes // 1024} KiB ({size} bytes).", reason="size"
        )
    try:
        _check_structure(text)
        documents = list(yaml.load_all(text, Loader=TextLoader))  # noqa: S506 - safe loader
    except YamlInputError as exc:
        raise YamlInputError(f"{what} is not usable: {exc}", detail=str(exc)) from exc
    except yaml.YAMLError as exc:
        detail = _problem(exc)
        raise YamlInputError(
            f"{what} does not parse: {detail}", reason="syntax", detail=detail
        ) from exc
    except (ValueError, OverflowError, IndexError, TypeError, KeyError, AttributeError) as exc:
        # PyYAML's constructors fail this way on some values: int() refuses numbers of more
        # than 4300 digits, an empty "!!int" or a bad "!!timestamp" raises from its parser.
        if "digits" in str(exc):
            detail = "a number is too long to read"
        else:
            detail = f"a value cannot be read ({type(exc).__name__}: {_short(exc)})"
        raise YamlInputError(f"{what} is not usable: {detail}", detail=detail) from exc
    except RecursionError as exc:
        raise YamlInputError(f"{what} is nested too deeply.", detail="nested too deeply") from exc
    return [doc for doc in documents if doc is not None]


def load_mapping(text: str, max_bytes: int, *, what: str = "YAML") -> dict[str, Any]:
    """One document that is a mapping (empty text is ``{}``)."""
    documents = load_documents(text, max_bytes, what=what)
    if not documents:
        return {}
    if len(documents) > 1:
        raise YamlInputError(f"{what} must be one YAML document, not {len(documents)}.")
    if not isinstance(documents[0], dict):
        raise YamlInputError(
            f"{what} must be a YAML mapping (key: value lines), not {kind_of(documents[0])}."
        )
    return documents[0]


def _check_structure(text: str) -> None:
    """Walk the parser's events (no recursion): depth, and nodes with aliases expanded."""
    sizes: dict[str, int] = {}
    open_nodes: list[tuple[str | None, int]] = []
    count = 0
    for event in yaml.parse(text, Loader=TextLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            count += 1
            open_nodes.append((event.anchor, count - 1))
            if len(open_nodes) > MAX_DEPTH:
                raise YamlInputError(f"it is nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            anchor, start = open_nodes.pop()
            if anchor is not None:
                sizes[anchor] = count - start
        elif isinstance(event, yaml.ScalarEvent):
            count += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in sizes:
                raise YamlInputError(
                    f"the aliases expand to more than {MAX_NODES} entries (the alias "
                    f"*{event.anchor} refers to itself or to an anchor not defined before it)"
                )
            count += sizes[event.anchor]
        if count > MAX_NODES:
            raise YamlInputError(
                f"the aliases expand to more than {MAX_NODES} entries (too many aliases)"
            )


def kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a single text"
    return f"a single {type(value).__name__} value"


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "…"


def _problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or _short(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem
