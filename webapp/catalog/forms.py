"""WTForms for the catalog."""

from __future__ import annotations

from flask import current_app
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from jobs.helm.charts import ChartError, inspect_chart_archive
from jobs.helm.repository import parse_chart_reference
from jobs.helm.values import ImagePathError, parse_image_paths
from webapp.boundary import Form, id_value
from webapp.catalog.sources import chart_source_problem
from webapp.catalog.validation import (
    NAME_RE,
    REGISTRY_ADDRESS_RE,
    REGISTRY_NAMESPACE_RE,
    InvalidInput,
    check_kubeconfig,
    check_workload_template,
    safe_load_documents,
)
from webapp.models import ProjectKind

NAME_MESSAGE = "Lower-case letters, digits and '-', starting and ending with a letter or digit."


def name_field(label: str = "Name") -> StringField:
    return StringField(
        label, validators=[DataRequired(), Length(max=63), Regexp(NAME_RE, message=NAME_MESSAGE)]
    )


def _read_upload(field: FileField, limit: int) -> bytes | None:
    storage = field.data
    if not storage or not getattr(storage, "filename", ""):
        return None
    data = storage.read(limit + 1)
    if len(data) > limit:
        raise ValidationError(f"The file is larger than {limit // 1024} KiB.")
    return data


class ClusterForm(Form):
    name = name_field()
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    in_cluster = BooleanField("Use the in-cluster service account (Slipway runs inside it)")
    kubeconfig_text = TextAreaField("Kubeconfig (paste)", validators=[Optional()])
    kubeconfig_file = FileField("…or upload a kubeconfig file")

    def __init__(self, *args, has_kubeconfig: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_kubeconfig = has_kubeconfig
        self.kubeconfig: str | None = None

    def validate_kubeconfig_file(self, field):
        upload = _read_upload(field, 256 * 1024)
        text = upload.decode("utf-8", errors="replace") if upload else self.kubeconfig_text.data
        if not text or not text.strip():
            if not self.in_cluster.data and not self.has_kubeconfig:
                raise ValidationError("Paste or upload a kubeconfig, or choose in-cluster.")
            return
        try:
            check_kubeconfig(text)
        except InvalidInput as exc:
            raise ValidationError(str(exc)) from exc
        self.kubeconfig = text


class RegistryForm(Form):
    name = name_field()
    address = StringField(
        "Address",
        description="host[:port], without a scheme: registry.example.com or 127.0.0.1:5000",
        validators=[
            DataRequired(),
            Length(max=255),
            Regexp(REGISTRY_ADDRESS_RE, message="Give host[:port] without http:// or a path."),
        ],
    )
    namespace = StringField(
        "Namespace",
        description="Path prefix for images, e.g. team/prod (optional)",
        validators=[
            Optional(),
            Length(max=255),
            Regexp(REGISTRY_NAMESPACE_RE, message="Lower-case path segments separated by '/'."),
        ],
    )
    username = StringField("Username", validators=[Optional(), Length(max=255)])
    password = PasswordField(
        "Password or token",
        description="Empty keeps the stored one, unless the address changes: a password is "
        "only ever sent to the address it was entered for.",
        validators=[Optional(), Length(max=4096)],
    )
    verify_tls = BooleanField("Verify TLS certificates", default=True)
    plain_http = BooleanField("Plain HTTP (no TLS)")

    def process(self, formdata=None, obj=None, data=None, extra_filters=None, **kwargs):
        super().process(formdata, obj, data, extra_filters, **kwargs)
        # Never the stored secret: only what was typed counts as a (new) password.
        if not self.password.raw_data:
            self.password.data = ""


class ProjectForm(Form):
    key = name_field("Key")
    name = StringField("Name", validators=[DataRequired(), Length(max=128)])
    kind = SelectField(
        "Kind",
        choices=[SelectChoice(kind.value, kind.label) for kind in ProjectKind],
        validators=[DataRequired()],
    )
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])


class _ServiceFields(Form):
    name = name_field()
    order_group = IntegerField(
        "Startup order group",
        default=1,
        description="Groups start one after another, lowest first.",
        validators=[DataRequired(), NumberRange(min=1, max=99)],
    )


class YamlServiceForm(_ServiceFields):
    yaml_template = TextAreaField("Kubernetes YAML", validators=[DataRequired()])

    def validate_yaml_template(self, field):
        try:
            check_workload_template(field.data, current_app.config["MAX_YAML_BYTES"])
        except InvalidInput as exc:
            raise ValidationError(str(exc)) from exc


class HelmServiceForm(_ServiceFields):
    chart_file = FileField("Chart archive (.tgz)")
    chart_reference = StringField(
        "Or pull the chart from an OCI chart repository",
        description="oci://host[:port]/path/name:version. A registry of the catalog at that "
        "host lends its credentials.",
        validators=[Optional(), Length(max=512)],
    )
    image_paths = TextAreaField(
        "Image paths",
        description="The values keys holding each image, one a line: "
        "image.repository+image.tag, a.image (holding repo:tag), or "
        "a.image.registry+a.image.repository+a.image.tag. Empty: detected from the chart's values.",
        validators=[Optional(), Length(max=8000)],
    )

    def validate_chart_reference(self, field):

        if field.data and field.data.strip():
            try:
                host, _, _ = parse_chart_reference(field.data)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
            problem = chart_source_problem(host)
            if problem:
                raise ValidationError(problem)

    def validate_image_paths(self, field):

        try:
            parse_image_paths(field.data or "")
        except ImagePathError as exc:
            raise ValidationError(str(exc)) from exc

    def __init__(self, *args, has_chart: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_chart = has_chart
        self.chart_bytes: bytes | None = None
        self.chart_info = None

    def validate_chart_file(self, field):

        limit = current_app.config["MAX_CHART_BYTES"]
        data = _read_upload(field, limit)
        if data is None:
            if not self.has_chart and not (self.chart_reference.data or "").strip():
                raise ValidationError("Upload the service's chart (.tgz) or name one to pull.")
            return
        if (self.chart_reference.data or "").strip():
            raise ValidationError("Upload a chart or name one to pull, not both.")
        try:
            self.chart_info = inspect_chart_archive(
                data, limit, max_values_bytes=current_app.config["MAX_YAML_BYTES"]
            )
        except ChartError as exc:
            raise ValidationError(str(exc)) from exc
        self.chart_bytes = data


class EnvironmentForm(Form):
    name = name_field()
    cluster_id = SelectField("Cluster", coerce=id_value, validators=[Optional()])
    namespace = StringField(
        "Namespace",
        validators=[DataRequired(), Length(max=63), Regexp(NAME_RE, message=NAME_MESSAGE)],
    )
    production = BooleanField("Production environment")


class DeployedStateForm(Form):
    """What a service runs in an environment now, as an admin records it."""

    rendered_yaml = TextAreaField("Deployed YAML", validators=[Optional()])
    values_yaml = TextAreaField("Deployed values.yaml", validators=[Optional()])
    chart_version = StringField("Chart version", validators=[Optional(), Length(max=64)])
    images = TextAreaField(
        "Images",
        description="One per line: container=image[:tag][@digest]",
        # No Optional(): an empty box is checked too, and records no images.
        validators=[Length(max=20000)],
    )

    def validate_rendered_yaml(self, field):
        if field.data and field.data.strip():
            try:
                check_workload_template(field.data, current_app.config["MAX_YAML_BYTES"])
            except InvalidInput as exc:
                raise ValidationError(str(exc)) from exc

    def validate_values_yaml(self, field):
        if field.data and field.data.strip():
            try:
                docs = safe_load_documents(
                    field.data, current_app.config["MAX_YAML_BYTES"], what="The values"
                )
            except InvalidInput as exc:
                raise ValidationError(str(exc)) from exc
            if len(docs) > 1:
                raise ValidationError("values.yaml is one YAML mapping.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Filled by validate_images (an empty Images box records no images).
        self.parsed_images: dict[str, str] = {}

    def validate_images(self, field):
        self.parsed_images = {}
        for number, line in enumerate((field.data or "").splitlines(), start=1):
            if not line.strip():
                continue
            container, sep, image = line.partition("=")
            if not sep or not container.strip() or not image.strip() or " " in image.strip():
                raise ValidationError(f"Line {number}: write container=image.")
            self.parsed_images[container.strip()] = image.strip()
