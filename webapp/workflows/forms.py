"""WTForms for workflows and their stages; each stage form reads and writes ``settings``."""

from __future__ import annotations

import re
import shlex
from urllib.parse import urlsplit

from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from webapp.boundary import Form, id_value
from webapp.workflows import settings as stage_settings

# A workflow's name is shown, not used as a key: words and spaces ("Release to prod").
WORKFLOW_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,62}[A-Za-z0-9])?\Z")
WORKFLOW_NAME_MESSAGE = (
    "Up to 64 letters, digits, spaces, '.', '_' and '-', "
    "starting and ending with a letter or digit."
)


class WorkflowForm(Form):
    name = StringField(
        "Name",
        validators=[
            DataRequired(),
            Length(max=64),
            Regexp(WORKFLOW_NAME_RE, message=WORKFLOW_NAME_MESSAGE),
        ],
    )
    environment_id = SelectField("Target environment", coerce=id_value, validators=[DataRequired()])
    rollbacks_skip_gates = BooleanField(
        "Rollbacks skip approval and tests",
        description="Off: a rollback waits at this workflow's approvals and runs its tests, "
        "like any release. On: a rollback only redeploys.",
    )


class _StageForm(Form):
    name = StringField("Stage name", validators=[DataRequired(), Length(max=64)])

    @staticmethod
    def initial(settings: dict) -> dict:
        """The fields' data from saved settings: what the edit page shows and keeps.

        An edit post that lacks a field keeps this value rather than the default.
        """
        return {}

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

    @staticmethod
    def initial(settings: dict) -> dict:
        return {
            "content": settings.get("content", stage_settings.CONTENT_IMAGES),
            "only_existing": bool(settings.get("only_existing")),
            "timeout_seconds": settings.get("timeout_seconds"),
        }

    def settings(self) -> dict:
        return {
            "content": self.content.data,
            "only_existing": bool(self.only_existing.data),
            "timeout_seconds": self.timeout_seconds.data,
        }


class HelmDeployStageForm(_StageForm):
    only_existing = BooleanField("Only services whose release already exists in the environment")
    timeout_seconds = _timeout_field(stage_settings.DEFAULT_TIMEOUT)

    @staticmethod
    def initial(settings: dict) -> dict:
        return {
            "only_existing": bool(settings.get("only_existing")),
            "timeout_seconds": settings.get("timeout_seconds"),
        }

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

    @staticmethod
    def initial(settings: dict) -> dict:
        return {
            "mode": settings.get("mode", stage_settings.TEST_JOB),
            "image": settings.get("image", ""),
            "command": settings.get("command", ""),
            "checks": "\n".join(
                f"{check['url']} {check['status']}" for check in settings.get("checks") or []
            ),
            "timeout_seconds": settings.get("timeout_seconds"),
        }

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
    # No Optional(): it would clear the "not a valid choice" error of an empty or unknown value.
    approver_ids = SelectMultipleField("Approvers (users)", coerce=id_value)
    approver_roles = SelectMultipleField(
        "Approvers (roles)",
        choices=[SelectChoice(role.value, role.label) for role in stage_settings.APPROVER_ROLES],
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

    @staticmethod
    def initial(settings: dict) -> dict:
        seconds = settings.get("timeout_seconds", stage_settings.DEFAULT_APPROVAL_TIMEOUT)
        return {
            "approver_ids": list(settings.get("approver_ids") or []),
            "approver_roles": list(settings.get("approver_roles") or []),
            "approvals_needed": settings.get("approvals_needed", 1),
            "timeout_minutes": max(1, int(seconds) // 60),
            "instructions": settings.get("instructions", ""),
            "allow_requester": bool(settings.get("allow_requester")),
        }

    def settings(self) -> dict:
        return {
            "approver_ids": sorted(set(self.approver_ids.data or [])),
            "approver_roles": sorted(set(self.approver_roles.data or [])),
            "approvals_needed": self.approvals_needed.data,
            "timeout_seconds": self.timeout_minutes.data * 60,
            "instructions": (self.instructions.data or "").strip(),
            "allow_requester": bool(self.allow_requester.data),
        }
