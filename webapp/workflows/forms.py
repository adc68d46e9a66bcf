"""WTForms for workflows and their stages; each stage form reads and writes ``settings``."""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from webapp.catalog.forms import name_field
from webapp.workflows import settings as stage_settings


class WorkflowForm(FlaskForm):
    name = name_field()
    environment_id = SelectField("Target environment", coerce=int, validators=[DataRequired()])
    rollbacks_skip_gates = BooleanField(
        "Rollbacks skip approval and tests",
        description="Off: a rollback waits at this workflow's approvals and runs its tests, "
        "like any release. On: a rollback only redeploys.",
    )


class _StageForm(FlaskForm):
    name = StringField("Stage name", validators=[DataRequired(), Length(max=64)])

    def load(self, settings: dict) -> None:
        """Fill the fields from saved settings (GET of the edit page)."""

    def settings(self) -> dict:
        raise NotImplementedError


def _timeout_field(default: int) -> IntegerField:
    return IntegerField(
        "Timeout (seconds)",
        default=default,
        validators=[DataRequired(), NumberRange(min=1, max=86400)],
    )


class DeployStageForm(_StageForm):
    content = SelectField(
        "Content",
        choices=[SelectChoice(k, v) for k, v in stage_settings.CONTENT_LABELS.items()],
        default=stage_settings.CONTENT_IMAGES,
        description="Images only updates the containers' images; images and configuration "
        "applies the version's YAML.",
    )
    only_existing = BooleanField("Only services that already exist in the environment")
    timeout_seconds = _timeout_field(stage_settings.DEFAULT_TIMEOUT)

    def load(self, settings: dict) -> None:
        self.content.data = settings.get("content", stage_settings.CONTENT_IMAGES)
        self.only_existing.data = bool(settings.get("only_existing"))
        self.timeout_seconds.data = settings.get("timeout_seconds")

    def settings(self) -> dict:
        return {
            "content": self.content.data,
            "only_existing": bool(self.only_existing.data),
            "timeout_seconds": self.timeout_seconds.data,
        }


class HelmDeployStageForm(_StageForm):
    only_existing = BooleanField("Only services whose release already exists in the environment")
    timeout_seconds = _timeout_field(stage_settings.DEFAULT_TIMEOUT)

    def load(self, settings: dict) -> None:
        self.only_existing.data = bool(settings.get("only_existing"))
        self.timeout_seconds.data = settings.get("timeout_seconds")

    def settings(self) -> dict:
        return {
            "only_existing": bool(self.only_existing.data),
            "timeout_seconds": self.timeout_seconds.data,
        }


def parse_checks(text: str) -> list[dict]:
    """``URL [expected status]`` per line -> [{"url", "status"}]; ``ValueError`` says which line."""
    checks = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        url = parts[0]
        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.netloc or len(parts) > 2:
            raise ValueError(f"Line {number}: write an http(s) URL and optionally a status code.")
        status = 200
        if len(parts) == 2:
            if not parts[1].isdigit() or not 100 <= int(parts[1]) <= 599:
                raise ValueError(f"Line {number}: the expected status is a number 100-599.")
            status = int(parts[1])
        checks.append({"url": url, "status": status})
    return checks


class TestStageForm(_StageForm):
    __test__ = False  # not a pytest test class

    mode = SelectField(
        "Test",
        choices=[
            SelectChoice(stage_settings.TEST_JOB, "A Kubernetes Job in the target namespace"),
            SelectChoice(stage_settings.TEST_HTTP, "HTTP checks"),
        ],
        default=stage_settings.TEST_JOB,
    )
    # No Optional(): it would stop the checks below, which depend on the mode.
    image = StringField("Job image", validators=[Length(max=512)])
    command = StringField(
        "Job command",
        description="As in a shell, e.g. sh -c 'curl -f http://web/healthz'. Empty: the image's.",
        validators=[Length(max=2000)],
    )
    checks = TextAreaField(
        "HTTP checks",
        description="One per line: URL and the expected status (200 when left out).",
        validators=[Length(max=20000)],
    )
    timeout_seconds = _timeout_field(stage_settings.DEFAULT_TIMEOUT)

    def validate_image(self, field):
        if self.mode.data == stage_settings.TEST_JOB and not (field.data or "").strip():
            raise ValidationError("A Job test needs an image.")
        if field.data and any(ch.isspace() for ch in field.data.strip()):
            raise ValidationError("An image reference has no spaces.")

    def validate_command(self, field):
        try:
            shlex.split(field.data or "")
        except ValueError as exc:
            raise ValidationError(f"The command does not parse: {exc}.") from exc

    def validate_checks(self, field):
        try:
            self.parsed_checks = parse_checks(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        if self.mode.data == stage_settings.TEST_HTTP and not self.parsed_checks:
            raise ValidationError("Give at least one URL to check.")

    def load(self, settings: dict) -> None:
        self.mode.data = settings.get("mode", stage_settings.TEST_JOB)
        self.image.data = settings.get("image", "")
        self.command.data = settings.get("command", "")
        self.checks.data = "\n".join(
            f"{check['url']} {check['status']}" for check in settings.get("checks") or []
        )
        self.timeout_seconds.data = settings.get("timeout_seconds")

    def settings(self) -> dict:
        job = self.mode.data == stage_settings.TEST_JOB
        return {
            "mode": self.mode.data,
            "image": (self.image.data or "").strip() if job else "",
            "command": (self.command.data or "").strip() if job else "",
            "checks": [] if job else self.parsed_checks,
            "timeout_seconds": self.timeout_seconds.data,
        }


class ApprovalStageForm(_StageForm):
    approver_ids = SelectMultipleField("Approvers (users)", coerce=int, validators=[Optional()])
    approver_roles = SelectMultipleField(
        "Approvers (roles)",
        choices=[SelectChoice(role.value, role.label) for role in stage_settings.APPROVER_ROLES],
        validators=[Optional()],
    )
    approvals_needed = IntegerField(
        "Approvals needed", default=1, validators=[DataRequired(), NumberRange(min=1, max=50)]
    )
    timeout_minutes = IntegerField(
        "Timeout (minutes)",
        default=stage_settings.DEFAULT_APPROVAL_TIMEOUT // 60,
        validators=[DataRequired(), NumberRange(min=1, max=7 * 24 * 60)],
    )
    instructions = TextAreaField(
        "Instructions for the approvers", validators=[Optional(), Length(max=4000)]
    )
    allow_requester = BooleanField("The person who started the release may approve")

    def validate_approvals_needed(self, field):
        if not self.approver_ids.data and not self.approver_roles.data:
            raise ValidationError("Name at least one approver: a user or a role.")
        if not self.approver_roles.data and field.data and field.data > len(self.approver_ids.data):
            raise ValidationError(
                f"Only {len(self.approver_ids.data)} approvers are named; "
                f"{field.data} approvals can never be reached."
            )

    def load(self, settings: dict) -> None:
        self.approver_ids.data = list(settings.get("approver_ids") or [])
        self.approver_roles.data = list(settings.get("approver_roles") or [])
        self.approvals_needed.data = settings.get("approvals_needed", 1)
        seconds = settings.get("timeout_seconds", stage_settings.DEFAULT_APPROVAL_TIMEOUT)
        self.timeout_minutes.data = max(1, seconds // 60)
        self.instructions.data = settings.get("instructions", "")
        self.allow_requester.data = bool(settings.get("allow_requester"))

    def settings(self) -> dict:
        return {
            "approver_ids": sorted(set(self.approver_ids.data or [])),
            "approver_roles": sorted(set(self.approver_roles.data or [])),
            "approvals_needed": self.approvals_needed.data,
            "timeout_seconds": self.timeout_minutes.data * 60,
            "instructions": (self.instructions.data or "").strip(),
            "allow_requester": bool(self.allow_requester.data),
        }
