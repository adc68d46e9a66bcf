"""``make run`` starts a crashed worker again instead of stopping everything."""

from __future__ import annotations

import os
import signal
import sys

from sandbox import stack as stack_module
from tests.helpers import wait_until


def test_a_killed_worker_is_started_again_and_a_crash_loop_stops_the_stack(tmp_path, monkeypatch):
    monkeypatch.setattr(stack_module, "LOGS", tmp_path)
    stack = stack_module.Stack()
    try:
        worker = stack.spawn(
            "worker", [sys.executable, "-c", "import time; time.sleep(60)"], restart=True
        )
        web = stack.spawn("web", [sys.executable, "-c", "import time; time.sleep(60)"])
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        said = wait_until(stack.restart_dead, 5, "the worker to be started again")
        assert said == ["worker exited with code -9; started it again"]
        assert stack.dead_child() is None
        fresh = next(c for c in stack.children if c.name == "worker")
        assert fresh.proc.pid != worker.proc.pid and fresh.proc.poll() is None
        # A worker that keeps dying is reported like any other dead part.
        for _ in range(stack_module.MAX_RESTARTS):
            current = next(c for c in stack.children if c.name == "worker")
            os.killpg(current.proc.pid, signal.SIGKILL)
            current.proc.wait()
            stack.restart_dead()
        dead = stack.dead_child()
        assert dead is not None and dead.name == "worker"
        assert web.proc.poll() is None  # the web app was never touched
    finally:
        stack.stop()
