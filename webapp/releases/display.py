"""How release statuses, times and durations read on the page (template filters).

Python filters rather than Jinja macros: the timeline renders dozens of rows
per poll, and a filter call costs a fraction of a macro call.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape

from webapp.releases import bp

ICONS = {
    "queued": "○",
    "pending": "○",
    "running": "⟳",
    "waiting_approval": "⏸",
    "passed": "✓",
    "failed": "✗",
    "skipped": "↷",
    "rejected": "⛔",
    "timeout": "⌛",
    "cancelled": "⊘",
}


@bp.app_template_filter("status_icon")
def status_icon(status) -> Markup:
    """``<span>`` with an icon and the status in words (icons alone say nothing to a reader)."""
    value = status.value
    label = getattr(status, "label", value)
    return Markup(
        f'<span class="release-status release-status-{escape(value)}">'
        f'<span aria-hidden="true">{ICONS.get(value, "•")}</span> {escape(label)}</span>'
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
