"""The input boundary every request crosses: ids in range, text that is text.

- ``<int:...>`` in a URL is at most ``MAX_ID`` (PostgreSQL's INTEGER, and far
  below SQLite's 64 bits): a larger number is a page that does not exist (404),
  never an OverflowError.
- ``Form`` (and ``SubForm`` for the parts of a form) is the base of every form:
  a file part sent where text is expected, a JSON value that is not text, and
  NUL or other control characters are refused at the field, before any of the
  field's own checks run; a field's own ``validate_<name>`` check does not run
  on a text over the field's length limit.
"""

from __future__ import annotations

import json
import re

from flask import abort, request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from flask_wtf.form import _Auto, _is_submitted
from werkzeug.datastructures import CombinedMultiDict, FileStorage, MultiDict
from werkzeug.routing import IntegerConverter
from wtforms import Form as PlainForm
from wtforms.fields import FieldList, FormField, TextAreaField
from wtforms.validators import Length

MAX_ID = 2**31 - 1
# C0 controls (tab, line feed and carriage return allowed in multi-line text), DEL and C1.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK_RE = re.compile(r"[\r\n\u2028\u2029]")

FILE_NOT_TEXT = "Send text here, not a file."
NOT_TEXT = "Send text here."
CONTROL_CHARACTERS = "Remove the control characters (such as NUL) from this text."
ONE_LINE = "Write this on one line."


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` limited to 1..MAX_ID (a longer number does not match: 404)."""

    regex = r"\d{1,10}"

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def id_value(value) -> int:
    """``coerce`` of a select of ids: an int in 0..MAX_ID (0 is "none chosen"), else ValueError."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
    else:
        raise ValueError(f"{value!r} is not an id")
    if not 0 <= number <= MAX_ID:
        raise ValueError(f"{value!r} is not an id")
    return number


def page_number(name: str = "page") -> int:
    """``?page=N`` as a number from 1 (absent: 1); anything else is a 404, not a 500."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or len(raw) > 6 or int(raw) < 1:
        abort(404, "No such page.")
    return int(raw)


def text_problem(field) -> str | None:
    """Why the raw value of ``field`` is not acceptable text, or None."""
    if isinstance(field, FileField | FormField | FieldList):
        return None
    for value in field.raw_data or ():
        if isinstance(value, FileStorage):
            return FILE_NOT_TEXT
        if not isinstance(value, str):
            return NOT_TEXT
        if _CONTROL_RE.search(value):
            return CONTROL_CHARACTERS
        if not isinstance(field, TextAreaField) and _LINE_BREAK_RE.search(value):
            return ONE_LINE
    return None


def has_control_characters(text: str) -> bool:
    """NUL and other control characters (tab and line breaks are text)."""
    return bool(_CONTROL_RE.search(text))


def _over_length(field) -> bool:
    data = field.data
    return isinstance(data, str) and any(
        isinstance(check, Length) and check.max != -1 and len(data) > check.max
        for check in field.validators
    )


def _unless_too_long(check):
    # A text over its length limit is refused already; parsing it (shlex, YAML) is wasted work.
    def guarded(form, field):
        if _over_length(field):
            return None
        return check(form, field)

    return guarded


class _Boundary:
    """The checks shared by ``Form`` and ``SubForm`` (a mixin of a WTForms form)."""

    def validate(self, extra_validators=None):
        self.form_errors = []
        extra = {name: list(checks) for name, checks in (extra_validators or {}).items()}
        for name in self._fields:
            inline = getattr(self.__class__, f"validate_{name}", None)
            if inline is not None:
                extra.setdefault(name, []).append(_unless_too_long(inline))
        valid = True
        for name, field in self._fields.items():
            problem = text_problem(field) or self._refused_parts.get(field.name)
            if problem:
                field.errors = [problem]
                valid = False
            elif not field.validate(self, extra.get(name, ())):
                valid = False
        return valid

    @property
    def _refused_parts(self) -> dict[str, str]:
        return getattr(self, "refused_parts", {})


class SubForm(_Boundary, PlainForm):
    """A plain WTForms form (a part of a page's form, a filter form) with the boundary checks."""


class Form(_Boundary, FlaskForm):
    """The base of every page form: Flask-WTF (CSRF) plus the boundary checks."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            if formdata is _Auto and _is_submitted() and _json_only():
                return _json_formdata(form)
            wrapped = super().wrap_formdata(form, formdata)
            if isinstance(wrapped, CombinedMultiDict):
                # Only file fields take file parts; elsewhere a file is refused at its field.
                file_fields = {f.name for f in form._fields.values() if isinstance(f, FileField)}
                files = MultiDict(
                    (key, part)
                    for key, part in request.files.items(multi=True)
                    if key in file_fields
                )
                form.refused_parts = {key: FILE_NOT_TEXT for key in request.files}
                for key in file_fields:
                    form.refused_parts.pop(key, None)
                return CombinedMultiDict((files, request.form))
            return wrapped


def _json_only() -> bool:
    return request.is_json and not request.form and not request.files


def _json_formdata(form) -> MultiDict | None:
    """A JSON body as field values: scalars become text; lists, objects and others are refused."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return None
    form.refused_parts = {
        key: NOT_TEXT for key, value in body.items() if isinstance(value, dict | list)
    }
    return MultiDict(
        # JSON's spelling for the others: false is "false", which BooleanField reads as False.
        (key, value if isinstance(value, str) else json.dumps(value))
        for key, value in body.items()
        if isinstance(value, str | int | float | bool)
    )


def refuse_control_characters_in_query() -> None:
    """Before every request: a query string with NUL or control characters is a 400."""
    for key, value in request.args.items(multi=True):
        if _CONTROL_RE.search(key) or _CONTROL_RE.search(value):
            abort(400, "The address contains control characters.")
