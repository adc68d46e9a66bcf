"""Column helpers shared by the models."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware now; stored as UTC."""
    return datetime.now(UTC).replace(tzinfo=None)
