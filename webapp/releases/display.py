"""How release statuses, times and durations read on the page (template filters).

Python filters rather than Jinja macros: the timeline renders dozens of rows
per poll, and a filter call costs a fraction of a macro call.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape

from webapp.releases import bp

# Inline SVG icons (24x24 viewBox, drawn with currentColor): no emoji, no icon font.
_SVG = (
    '<svg class="icon" viewBox="0 0 24 24" width="14" height="14" aria-hidden="true" '
    'focusable="false" fill="none" stroke="currentColor" stroke-width="2.5" '
    'stroke-linecap="round" stroke-linejoin="round">{}</svg>'
)
_SHAPES = {
    "queued": '<circle cx="12" cy="12" r="8"/>',
    "pending": '<circle cx="12" cy="12" r="8"/>',
    "running": '<path d="M20 12a8 8 0 1 1-2.3-5.7"/><path d="M20 4v5h-5"/>',
    "waiting_approval": '<path d="M9 6v12M15 6v12"/>',
    "passed": '<path d="M5 12.5l4.5 4.5L19 7"/>',
    "failed": '<path d="M6 6l12 12M18 6L6 18"/>',
    "skipped": '<path d="M5 12h12M13 7l5 5-5 5"/>',
    "rejected": '<circle cx="12" cy="12" r="8"/><path d="M7 17L17 7"/>',
    "timeout": '<circle cx="12" cy="12" r="8"/><path d="M12 7v5l3 2"/>',
    "cancelled": '<circle cx="12" cy="12" r="8"/><path d="M8 12h8"/>',
}
ICONS = {status: Markup(_SVG.format(shape)) for status, shape in _SHAPES.items()}
_DOT = Markup(_SVG.format('<circle cx="12" cy="12" r="3"/>'))


@bp.app_template_filter("status_icon")
def status_icon(status) -> Markup:
    """``<span>`` with an SVG icon and the status in words (icons alone say nothing to a reader)."""
    value = status.value
    label = getattr(status, "label", value)
    return Markup(
        f'<span class="release-status release-status-{escape(value)}">'
        f"{ICONS.get(value, _DOT)} {escape(label)}</span>"
    )


@bp.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


@bp.app_template_filter("utc_time")
def utc_time(moment: datetime | None) -> Markup:
    """Like the ``when`` macro: a ``<time>`` in UTC, or a dash."""
    if moment is None:
        return Markup("—")
    return Markup(
        f'<time datetime="{moment.isoformat()}Z">{moment.strftime("%Y-%m-%d %H:%M:%S")} UTC</time>'
    )
