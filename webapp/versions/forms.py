"""WTForms for the three steps of the version form."""

from __future__ import annotations

import re

from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from jobs.oci.ref import ImageRef
from webapp.boundary import Form, SubForm, id_value
from webapp.catalog.sources import allowed_source_hosts, source_problem

VERSION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
NAME_MESSAGE = "Up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit."
TAG_MESSAGE = "A tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'."
MAX_LABELS = 10


def parse_labels(text: str | None) -> list[str]:
    """Labels typed as ``a, b c``: split on commas and spaces, duplicates dropped."""
    seen: list[str] = []
    for label in re.split(r"[,\s]+", text or ""):
        if label and label not in seen:
            seen.append(label)
    return seen


class _Step(Form):
    # Filled by the button pressed: next, back, create, or a refresh of part of the step.
    action = StringField()


class BasicsForm(_Step):
    name = StringField(
        "Version name",
        description="Unique in the project; also the default tag of the images.",
        validators=[DataRequired(), Length(max=128), Regexp(VERSION_NAME_RE, message=NAME_MESSAGE)],
    )
    labels = StringField(
        "Labels", description="Several, separated by commas: e.g. sprint-12, hotfix"
    )
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])

    def validate_labels(self, field):
        labels = parse_labels(field.data)
        if len(labels) > MAX_LABELS:
            raise ValidationError(f"At most {MAX_LABELS} labels.")
        for label in labels:
            if not LABEL_RE.match(label):
                raise ValidationError(
                    f"Label {label!r}: up to 64 letters, digits, '.', '_' and '-'."
                )


class ServicesForm(_Step):
    environment_id = SelectField("Source environment", coerce=id_value)
    service_ids = SelectMultipleField(
        "Services",
        coerce=id_value,
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
        validate_choice=False,
    )

    def validate_environment_id(self, field):
        if not field.data:
            raise ValidationError("Pick the source environment.")

    def validate_service_ids(self, field):
        offered = {choice[0] for choice in field.choices}
        if self.environment_id.data and not offered.intersection(field.data or []):
            raise ValidationError("Pick at least one service.")


class ImageRowForm(SubForm):
    key = HiddenField()
    repository = StringField("Target repository", validators=[Length(max=400)])
    tag = StringField("Target tag", validators=[Length(max=128)])
    push = BooleanField("Push")


class ImagesForm(_Step):
    registry_id = SelectField("Target registry", coerce=id_value)
    all_tags = StringField("Tag for every image", validators=[Optional(), Length(max=128)])
    images = FieldList(FormField(ImageRowForm))
    token = HiddenField()

    def __init__(self, *args, registry_address: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.registry_address = registry_address
        # {image key: source ref}: set by the wizard so sources are checked too.
        self.sources: dict[str, str] = {}

    def validate_registry_id(self, field):
        if not field.data:
            raise ValidationError("Choose the target registry.")

    def validate_all_tags(self, field):
        if field.data and not TAG_RE.match(field.data):
            raise ValidationError(TAG_MESSAGE)

    def validate_images(self, field):
        bad = False
        allowed = allowed_source_hosts() if self.sources else set()
        for row in field.entries:
            if row.form.push.data and not check_target(row.form, self.registry_address):
                bad = True
            source = self.sources.get(row.form.key.data)
            problem = source_problem(source, allowed) if source else None
            if problem:
                row.form.repository.errors = [*row.form.repository.errors, problem]
                bad = True
        if bad:
            raise ValidationError("Correct the images marked below.")


def check_target(row: ImageRowForm, registry_address: str | None) -> bool:
    """Check one image row's tag and repository; put messages on its fields."""
    tag, repository = (row.tag.data or "").strip(), (row.repository.data or "").strip()
    ok = True
    if not TAG_RE.match(tag):
        row.tag.errors = [*row.tag.errors, TAG_MESSAGE]
        ok = False
    try:
        ref = ImageRef.parse(f"{repository}:latest")
    except ValueError:
        row.repository.errors = [
            *row.repository.errors,
            "Write host[:port]/path in lower case, e.g. registry.example.com/team/app.",
        ]
        return False
    if registry_address and ref.registry != registry_address:
        row.repository.errors = [
            *row.repository.errors,
            f"The repository must be in the target registry {registry_address}.",
        ]
        ok = False
    return ok
