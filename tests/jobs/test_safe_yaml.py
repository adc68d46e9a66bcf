"""The one YAML loader: every malformed text is a YamlInputError with a short reason."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.helm.values import ValuesError, apply_global_variables
from jobs.kube.safe_yaml import MAX_DEPTH, YamlInputError, load_documents, load_mapping

LIMIT = 512 * 1024


def alias_bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text,reason,message",
    [
        ("a: " + "1" * 5000, "content", "a number is too long to read"),
        ("a: " + "[" * 3000 + "]" * 3000, "syntax", "nesting depth"),
        ("a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "content", "nested more than"),
        (alias_bomb(), "content", "too many aliases"),
        ("a: &a [*a]", "content", "refers to itself"),
        ("a: *nowhere", "content", "not defined before it"),
        ("a: 1\na: 2", "content", "the key 'a' appears twice"),
        ("a: [", "syntax", "line 2, column 1"),
        ("a: !!python/object:os.system {}", "syntax", "could not determine a constructor"),
        ("x" * (LIMIT + 1), "size", "larger than 512 KiB"),
        ('a: !!int ""', "content", "a value cannot be read"),
    ],
)
def test_malformed_yaml_is_refused_with_its_reason(text, reason, message):
    started = time.monotonic()
    with pytest.raises(YamlInputError, match=message) as refused:
        load_documents(text, LIMIT, what="The YAML")
    assert refused.value.reason == reason
    assert str(refused.value).startswith("The YAML ")
    assert len(str(refused.value)) < 300
    assert time.monotonic() - started < 1


def test_dates_stay_text_and_documents_keep_their_order():
    assert load_documents("a: 2024-13-45\n---\n---\nb: 2024-01-01\n", LIMIT) == [
        {"a": "2024-13-45"},
        {"b": "2024-01-01"},
    ]


def test_a_mapping_is_one_document_that_is_a_mapping():
    assert load_mapping("", LIMIT) == {}
    with pytest.raises(YamlInputError, match="not a list"):
        load_mapping("- a", LIMIT, what="The kubeconfig")
    with pytest.raises(YamlInputError, match="one YAML document, not 2"):
        load_mapping("a: 1\n---\nb: 2", LIMIT)


@pytest.mark.parametrize("block", ["a: " + "[" * 200 + "]" * 200, alias_bomb(), "a: " + "9" * 5000])
def test_global_variables_go_through_the_same_loader(block):
    with pytest.raises(ValuesError, match="global variables are not"):
        apply_global_variables({"a": 1}, block)


YAML_PIECES = [
    "a",
    "b",
    ":",
    " ",
    "\n",
    "  ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&x ",
    "*x",
    "&y ",
    "*y",
    "!!str ",
    "!!int ",
    "!!python/name:os.system",
    "'",
    '"',
    "#",
    "?",
    "|",
    ">",
    "---\n",
    "2024-13-45",
    "9" * 50,
    "1e999",
    "\x00",
    "\t",
    "%YAML 1.1\n",
    "<<: *x",
    "~",
    "null",
]


@settings(max_examples=400, derandomize=True, deadline=None, database=None)
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=60).map("".join))
def test_any_text_loads_or_is_refused_with_a_yaml_input_error(text):
    try:
        documents = load_documents(text, LIMIT)
    except YamlInputError as exc:
        assert str(exc) and len(str(exc)) < 400
    else:
        assert isinstance(documents, list)
