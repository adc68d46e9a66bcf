"""Label and field selectors, in their query-string and object forms."""

from __future__ import annotations

import re
from collections.abc import Callable

from sandbox.kube.errors import bad_request

Matcher = Callable[[dict], bool]

_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    terms, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Callable[[dict[str, str]], bool]:
    if match := _SET_TERM.match(term):
        key, op, values = match.group(1), match.group(2), match.group(3)
        allowed = {v.strip() for v in values.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    if match := _EQ_TERM.match(term):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_TERM.match(term):
        negate, key = match.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise bad_request(f"unable to parse requirement: {term.strip()!r}")


def parse_label_selector(text: str | None) -> Matcher:
    """A matcher for ``labelSelector`` (=, ==, !=, in, notin, exists, !exists)."""
    terms = [_label_term(t) for t in _split_terms(text or "")]

    def matches(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def _field_value(obj: dict, path: str) -> str:
    value: object = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def parse_field_selector(text: str | None) -> Matcher:
    """A matcher for ``fieldSelector``: ``path=value``, ``path==value``, ``path!=value``."""
    terms = []
    for term in _split_terms(text or ""):
        match = _EQ_TERM.match(term)
        if not match:
            raise bad_request(f"invalid selector: {term.strip()!r}")
        terms.append(match.groups())

    def matches(obj: dict) -> bool:
        for path, op, value in terms:
            equal = _field_value(obj, path) == value
            if equal == (op == "!="):
                return False
        return True

    return matches


def matches_label_selector(selector: dict | None, labels: dict[str, str]) -> bool:
    """Does a ``LabelSelector`` object (matchLabels/matchExpressions) select these labels?"""
    if not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
