"""Database models, split by area."""

from webapp.models.audit import AuditEvent
from webapp.models.catalog import (
    Cluster,
    DeployedImage,
    Environment,
    EnvironmentService,
    Project,
    ProjectKind,
    Registry,
    Service,
)
from webapp.models.jobs import JobRun, JobStatus
from webapp.models.people import Role, User
from webapp.models.versions import (
    ImageStatus,
    Version,
    VersionDraft,
    VersionImage,
    VersionLabel,
    VersionService,
    VersionStatus,
)

__all__ = [
    "AuditEvent",
    "Cluster",
    "DeployedImage",
    "Environment",
    "EnvironmentService",
    "JobRun",
    "JobStatus",
    "Project",
    "ProjectKind",
    "Registry",
    "Role",
    "Service",
    "User",
    "ImageStatus",
    "Version",
    "VersionDraft",
    "VersionImage",
    "VersionLabel",
    "VersionService",
    "VersionStatus",
]

from webapp.models.releases import (  # noqa: E402
    ApprovalDecision,
    Decision,
    EnvironmentLock,
    Release,
    ReleaseService,
    ReleaseStage,
    ReleaseStatus,
    ServiceStatus,
    StageStatus,
)
from webapp.models.workflows import StageKind, Workflow, WorkflowStage  # noqa: E402

__all__ += [
    "ApprovalDecision",
    "Decision",
    "EnvironmentLock",
    "Release",
    "ReleaseService",
    "ReleaseStage",
    "ReleaseStatus",
    "ServiceStatus",
    "StageKind",
    "StageStatus",
    "Workflow",
    "WorkflowStage",
]

from webapp.models.tokens import ApiToken, IdempotentAnswer, Scope  # noqa: E402

__all__ += ["ApiToken", "IdempotentAnswer", "Scope"]

from webapp.models.notifications import (  # noqa: E402
    DeliveryStatus,
    NotificationDelivery,
    NotificationTarget,
    TargetKind,
)

__all__ += ["DeliveryStatus", "NotificationDelivery", "NotificationTarget", "TargetKind"]
