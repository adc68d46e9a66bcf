"""Knobs of the simulated cluster: how long rollouts take and which images fail."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SandboxConfig:
    """How the simulated controller behaves.

    ``pull_fail_patterns`` and ``crash_patterns`` are substrings of an image
    reference; ``job_fail_pattern`` is a substring of a Job container's
    command + args (``exit 1`` always fails too). ``check_registries`` makes
    image pulls from loopback registries ask the registry whether the
    manifest exists.
    """

    rollout_seconds: float = 2.0
    pull_fail_patterns: list[str] = field(default_factory=lambda: ["doesnotexist"])
    crash_patterns: list[str] = field(default_factory=lambda: ["crashloop"])
    job_fail_pattern: str = "fail"
    check_registries: bool = True
    job_seconds: float = 1.0
    tick_seconds: float = 0.1
