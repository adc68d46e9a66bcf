"""Server-side YAML highlighting with Pygments (CSS classes in static/css/pygments.css)."""

from __future__ import annotations

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import YamlLexer

_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)
_LEXER = YamlLexer()


def highlight_yaml(text: str) -> Markup:
    """The YAML as highlighted HTML; Pygments escapes the text itself."""
    return Markup(highlight(text, _LEXER, _FORMATTER))  # noqa: S704


def stylesheet() -> str:
    return _FORMATTER.get_style_defs(".highlight")
