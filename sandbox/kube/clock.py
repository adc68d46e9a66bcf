"""The sandbox's clock: real time plus an offset tests can move forward.

Everything that stamps or measures time in the emulator (timestamps,
progress deadlines, pod start-up delays, crash back-off) reads one
:class:`Clock`, so a test can simulate minutes of idleness without sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Clock:
    """Wall and monotonic time, both shifted by :meth:`advance`."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward (simulated idle time)."""
        with self._lock:
            self._offset += seconds

    @property
    def offset(self) -> float:
        return self._offset

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self._offset, UTC)

    def stamp(self) -> str:
        """The current time the way the API writes timestamps."""
        return self.now().strftime(STAMP_FORMAT)

    def seconds_since(self, stamp: str | None) -> float:
        """Seconds from an API timestamp until now (0 for none or unparsable)."""
        if not stamp:
            return 0.0
        try:
            then = datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return 0.0
        return (self.now() - then).total_seconds()
