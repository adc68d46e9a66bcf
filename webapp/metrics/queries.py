"""Delivery metrics of one environment over a period, in a fixed number of SQL queries.

Definitions (also on the page):
- deployments: releases that ended ``passed`` in the period;
- lead time: version created → its release's first deploy stage passed (the
  version runs there from then on), for passed releases that are not rollbacks;
- change failure rate: of the releases that ended ``passed`` or ``failed`` in the
  period, the share that failed or were rolled back later;
- time to restore: a failed or rolled-back release's end → the end of the next
  passed release in the environment;
- approval wait: an approval stage's start → its decision (approved or rejected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Float, and_, cast, exists, func, select
from sqlalchemy.orm import aliased

from webapp.extensions import db
from webapp.models import Release, ReleaseStage, ReleaseStatus, StageKind, StageStatus, Version

DEPLOY_KINDS = (StageKind.DEPLOY, StageKind.HELM_DEPLOY)


def seconds_between(start, end):
    """SQL for ``end - start`` in seconds, on SQLite and PostgreSQL."""
    if db.engine.dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(func.extract("epoch", end - start), Float)  # not Decimal


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class ReleaseFact:
    id: int
    version: str
    status: ReleaseStatus
    ended_at: datetime
    is_rollback: bool
    lead_seconds: float | None
    rolled_back: bool
    restore_seconds: float | None


@dataclass
class ApprovalFact:
    release_id: int
    stage: str
    status: StageStatus
    ended_at: datetime
    wait_seconds: float


@dataclass
class DayCount:
    day: date
    passed: int = 0
    failed: int = 0


@dataclass
class Metrics:
    start: date
    end: date  # inclusive
    releases: list[ReleaseFact]
    approvals: list[ApprovalFact]
    days: list[DayCount] = field(default_factory=list)

    @property
    def period_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def deployments(self) -> list[ReleaseFact]:
        return [r for r in self.releases if r.status is ReleaseStatus.PASSED]

    @property
    def deployments_per_day(self) -> float:
        return len(self.deployments) / self.period_days

    @property
    def lead_times(self) -> list[float]:
        return [r.lead_seconds for r in self.deployments if r.lead_seconds is not None]

    @property
    def outcomes(self) -> list[ReleaseFact]:
        return [
            r for r in self.releases if r.status in (ReleaseStatus.PASSED, ReleaseStatus.FAILED)
        ]

    @property
    def failures(self) -> list[ReleaseFact]:
        return [r for r in self.outcomes if r.status is ReleaseStatus.FAILED or r.rolled_back]

    @property
    def change_failure_rate(self) -> float | None:
        return len(self.failures) / len(self.outcomes) if self.outcomes else None

    @property
    def restore_times(self) -> list[float]:
        return [r.restore_seconds for r in self.failures if r.restore_seconds is not None]

    @property
    def approval_waits(self) -> list[float]:
        return [a.wait_seconds for a in self.approvals]


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, datetime.min.time()), datetime.combine(
        end + timedelta(days=1), datetime.min.time()
    )


def environment_metrics(environment_id: int, start: date, end: date) -> Metrics:
    """Two queries: the releases that ended in the period, and the decided approval stages."""
    since, until = _day_bounds(start, end)
    deploy_end = (
        select(func.min(ReleaseStage.ended_at))
        .where(
            ReleaseStage.release_id == Release.id,
            ReleaseStage.kind.in_(DEPLOY_KINDS),
            ReleaseStage.status == StageStatus.PASSED,
        )
        .scalar_subquery()
    )
    rollback = aliased(Release)
    rolled_back = exists().where(rollback.rollback_of_id == Release.id)
    following = aliased(Release)
    next_passed_end = (
        select(func.min(following.ended_at))
        .where(
            following.environment_id == Release.environment_id,
            following.status == ReleaseStatus.PASSED,
            following.id > Release.id,
        )
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(
            Release.id,
            Version.name,
            Release.status,
            Release.ended_at,
            Release.is_rollback,
            seconds_between(Version.created_at, deploy_end),
            rolled_back,
            seconds_between(Release.ended_at, next_passed_end),
        )
        .join(Version, Version.id == Release.version_id)
        .where(
            Release.environment_id == environment_id,
            Release.ended_at >= since,
            Release.ended_at < until,
            Release.status.in_((ReleaseStatus.PASSED, ReleaseStatus.FAILED)),
        )
        .order_by(Release.ended_at, Release.id)
    ).all()
    releases = []
    for rid, version, status, ended, is_rollback, lead, was_rolled_back, restore in rows:
        failed_or_back = status is ReleaseStatus.FAILED or bool(was_rolled_back)
        releases.append(
            ReleaseFact(
                rid,
                version,
                status,
                ended,
                is_rollback,
                None if is_rollback or status is not ReleaseStatus.PASSED else lead,
                bool(was_rolled_back),
                restore if failed_or_back else None,
            )
        )
    approvals = [
        ApprovalFact(*row)
        for row in db.session.execute(
            select(
                ReleaseStage.release_id,
                ReleaseStage.name,
                ReleaseStage.status,
                ReleaseStage.ended_at,
                seconds_between(ReleaseStage.started_at, ReleaseStage.ended_at),
            )
            .join(Release, Release.id == ReleaseStage.release_id)
            .where(
                and_(
                    Release.environment_id == environment_id,
                    ReleaseStage.kind == StageKind.APPROVAL,
                    ReleaseStage.status.in_((StageStatus.PASSED, StageStatus.REJECTED)),
                    ReleaseStage.started_at.is_not(None),
                    ReleaseStage.ended_at >= since,
                    ReleaseStage.ended_at < until,
                )
            )
            .order_by(ReleaseStage.ended_at)
        ).all()
    ]
    metrics = Metrics(start, end, releases, approvals)
    by_day = {
        start + timedelta(days=n): DayCount(start + timedelta(days=n))
        for n in range(metrics.period_days)
    }
    for fact in metrics.outcomes:
        day = by_day.get(fact.ended_at.date())
        if day is None:
            continue
        if fact.status is ReleaseStatus.PASSED:
            day.passed += 1
        else:
            day.failed += 1
    metrics.days = list(by_day.values())
    return metrics
