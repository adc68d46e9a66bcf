"""What each stage kind keeps in ``settings`` and how it reads to a person."""

from __future__ import annotations

from webapp.models import Role, StageKind

CONTENT_IMAGES = "images"
CONTENT_FULL = "full"
CONTENT_LABELS = {
    CONTENT_IMAGES: "Images only",
    CONTENT_FULL: "Images and configuration",
}
TEST_JOB = "job"
TEST_HTTP = "http"
APPROVER_ROLES = (Role.RELEASE_ENGINEER, Role.ADMIN)
DEFAULT_TIMEOUT = 600
DEFAULT_APPROVAL_TIMEOUT = 3600


def summary(kind: StageKind, settings: dict, usernames: dict[int, str] | None = None) -> str:
    """One line saying what the stage does, for lists and the timeline."""
    if kind is StageKind.DEPLOY:
        text = CONTENT_LABELS.get(settings.get("content"), "Images only")
        if settings.get("only_existing"):
            text += ", only services that already exist in the environment"
        return f"{text}; timeout {settings.get('timeout_seconds', DEFAULT_TIMEOUT)}s"
    if kind is StageKind.HELM_DEPLOY:
        text = "upgrade --install each service's release"
        if settings.get("only_existing"):
            text += ", only releases that already exist in the environment"
        return f"{text}; timeout {settings.get('timeout_seconds', DEFAULT_TIMEOUT)}s"
    if kind is StageKind.TEST:
        if settings.get("mode") == TEST_HTTP:
            checks = settings.get("checks") or []
            return f"{len(checks)} HTTP check{'s' if len(checks) != 1 else ''}"
        command = settings.get("command") or "(image default command)"
        return f"Kubernetes Job {settings.get('image', '')}: {command}"
    names = [
        (usernames or {}).get(user_id, f"user {user_id}")
        for user_id in settings.get("approver_ids") or []
    ]
    names += [_role_text(role) for role in settings.get("approver_roles") or []]
    needed = settings.get("approvals_needed", 1)
    text = f"{needed} approval{'s' if needed != 1 else ''} from {', '.join(names) or 'nobody'}"
    if settings.get("allow_requester"):
        text += "; the requester may approve"
    return text


def _role_text(value) -> str:
    # A stage saved before the form checked its roles may hold one that is not a role.
    try:
        return f"any {Role(value).label.lower()}"
    except ValueError:
        return f"unknown role {value!r}"


def timeout_seconds(settings: dict, default: int = DEFAULT_TIMEOUT) -> int:
    return int(settings.get("timeout_seconds") or default)


# Kinds the executor can run.
RUNNABLE_KINDS = (StageKind.DEPLOY, StageKind.HELM_DEPLOY, StageKind.TEST, StageKind.APPROVAL)


def offered_kinds(project_kind) -> list[StageKind]:
    """The stage kinds an admin may add to a workflow of a ``project_kind`` project."""
    return [kind for kind in RUNNABLE_KINDS if kind.fits(project_kind)]
