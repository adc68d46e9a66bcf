"""What the API reads and writes, as pydantic models (they also make the OpenAPI schemas)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime as _datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from webapp.versions.forms import LABEL_RE, MAX_LABELS  # one rule for the form and the API

# The database keeps naive UTC times; the API says so (RFC 3339 with "Z").
datetime = Annotated[
    _datetime, AfterValidator(lambda moment: moment.replace(tzinfo=moment.tzinfo or UTC))
]

# The largest id a database column holds (PostgreSQL bigint, SQLite integer).
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# pydantic's (Rust) regex spells Python's end-of-text \Z as $ (no newline before it there).
Label = Annotated[str, StringConstraints(pattern=LABEL_RE.pattern.replace(r"\Z", "$"))]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class Problem(BaseModel):
    """An error: what went wrong and, for invalid input, which field."""

    error: str
    field: str | None = None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel):
    page: int
    per_page: int
    total: int
    pages: int


class PageQuery(Strict):
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(25, ge=1, le=100)


# --- catalog -------------------------------------------------------------------


class ProjectOut(BaseModel):
    id: int
    key: str
    name: str
    kind: str
    description: str | None
    url: str


class ProjectList(BaseModel):
    items: list[ProjectOut]


class ServiceOut(BaseModel):
    id: int
    name: str
    order_group: int
    chart_name: str | None
    chart_version: str | None


class ServiceList(BaseModel):
    items: list[ServiceOut]


class EnvironmentOut(BaseModel):
    id: int
    project_id: int
    name: str
    namespace: str
    production: bool
    cluster: str | None
    url: str


class EnvironmentList(BaseModel):
    items: list[EnvironmentOut]


class ContainerImage(BaseModel):
    container: str
    image: str


class RunningService(BaseModel):
    """One service of an environment: its images now and the release that put them there."""

    service_id: int
    name: str
    images: list[ContainerImage]
    chart_version: str | None
    version: str | None = Field(None, description="The version its last passed release deployed.")
    release_id: int | None = None
    updated_at: datetime


class EnvironmentState(BaseModel):
    environment: EnvironmentOut
    services: list[RunningService]
    locked_by_release_id: int | None


# --- versions ------------------------------------------------------------------


class VersionQuery(PageQuery):
    label: str | None = Field(None, max_length=64)
    q: str | None = Field(None, max_length=128, description="Part of a name or a service name.")
    status: str | None = Field(None, pattern="^(creating|success|failed|retrying)$")


class ImageOverride(Strict):
    tag: str | None = Field(None, max_length=128)
    repository: str | None = Field(None, max_length=400)
    push: bool = True


class VersionCreate(Strict):
    """Freeze services of an environment into a version (as the three-step form does)."""

    name: Name
    environment_id: Id
    registry_id: Id
    labels: list[Label] = Field(default_factory=list, max_length=MAX_LABELS)
    description: str = Field("", max_length=2000)
    services: list[str] | None = Field(
        None, description="Names of the services to take; every deployed one when left out."
    )
    tag: str | None = Field(
        None,
        max_length=128,
        description="The tag of every image not given one in images; "
        "the version's name when left out.",
    )
    images: dict[str, ImageOverride] = Field(
        default_factory=dict,
        description='Per image, keyed "service/container": target tag, repository, push. '
        "Tags default to the version's name, repositories to the registry's.",
    )
    values: dict[str, str] = Field(
        default_factory=dict, description="Helm: per service name, the values YAML to package."
    )
    chart_versions: dict[str, str] = Field(
        default_factory=dict,
        description="Helm: per service name, the chart version (SemVer); suggested when left out.",
    )
    chart_registry_id: Id | None = Field(None, description="Helm: the OCI chart repository.")


class ImageOut(BaseModel):
    container: str
    source_ref: str
    source_digest: str | None
    target_ref: str
    target_digest: str | None
    push: bool
    status: str
    error: str | None
    bytes_total: int
    bytes_copied: int
    platforms: list[str] | None


class ChartOut(BaseModel):
    name: str
    version: str | None
    source_version: str | None
    status: str | None
    error: str | None
    digest: str | None
    reference: str | None
    download_url: str | None


class VersionServiceOut(BaseModel):
    id: int
    name: str
    order_group: int
    images: list[ImageOut]
    chart: ChartOut | None


class VersionSummary(BaseModel):
    id: int
    project_id: int
    name: str
    status: str
    labels: list[str]
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None
    url: str


class VersionOut(VersionSummary):
    description: str | None
    error: str | None
    source_environment: str
    target_registry: str
    chart_repository: str
    services: list[VersionServiceOut]
    used_by: list[str]


class VersionList(Page):
    items: list[VersionSummary]


# --- workflows and releases ------------------------------------------------------


class StageOut(BaseModel):
    position: int
    kind: str
    name: str
    approvals_needed: int | None = None
    approver_roles: list[str] | None = None
    approver_ids: list[int] | None = None
    allow_requester: bool | None = None


class WorkflowOut(BaseModel):
    id: int
    project_id: int
    name: str
    environment_id: int
    environment: str
    production: bool
    stages: list[StageOut]
    url: str


class WorkflowList(BaseModel):
    items: list[WorkflowOut]


class ReleaseCreate(Strict):
    workflow_id: Id
    version_id: Id


class DecisionCreate(Strict):
    comment: str = Field("", max_length=4000)


class DecisionOut(BaseModel):
    username: str
    decision: str
    comment: str
    attempt: int
    decided_at: datetime


class ReleaseServiceOut(BaseModel):
    name: str
    order_group: int
    status: str
    message: str | None
    images: dict[str, str]
    started_at: datetime | None
    ended_at: datetime | None


class ReleaseStageOut(BaseModel):
    position: int
    kind: str
    name: str
    status: str
    message: str | None
    started_at: datetime | None
    ended_at: datetime | None
    deadline_at: datetime | None
    approvals_needed: int | None
    services: list[ReleaseServiceOut]
    decisions: list[DecisionOut]


class ReleaseSummary(BaseModel):
    id: int
    project_id: int
    workflow_id: int
    environment_id: int
    environment: str
    version_id: int
    version: str
    status: str
    finished: bool
    is_rollback: bool
    rollback_of_id: int | None
    attempt: int
    message: str | None
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    url: str


class ReleaseOut(ReleaseSummary):
    stages: list[ReleaseStageOut]
    waiting_stage: str | None
    queued_behind_release_id: int | None


class ReleaseQuery(PageQuery):
    project_id: Id | None = None
    environment_id: Id | None = None
    status: str | None = Field(
        None,
        pattern="^(queued|running|waiting_approval|passed|failed|rejected|timeout|cancelled)$",
    )


class ReleaseList(Page):
    items: list[ReleaseSummary]


class Message(BaseModel):
    message: str
    release: ReleaseOut


# --- audit ---------------------------------------------------------------------


class AuditQuery(PageQuery):
    user: str | None = Field(None, max_length=64)
    object_type: str | None = Field(None, max_length=32)
    action: str | None = Field(None, max_length=64)


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    username: str | None
    action: str
    object_type: str | None
    object_id: int | None
    object_name: str | None
    detail: str | None
    remote_addr: str | None


class AuditList(Page):
    items: list[AuditEventOut]
