"""The webhook target form."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.boundary import Form
from webapp.catalog.forms import NAME_MESSAGE
from webapp.catalog.validation import NAME_RE
from webapp.models import TargetKind
from webapp.models.notifications import EVENTS
from webapp.notifications.messages import mail_recipients


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


ADDRESS_RE = re.compile(r"^[^@\s,<>]+@[A-Za-z0-9.-]+\Z")


def check_url(form, field) -> None:
    if form.kind.data == TargetKind.EMAIL.value:
        addresses = mail_recipients(field.data or "")
        if not (field.data or "").startswith("mailto:") or not addresses:
            raise ValidationError("mailto: and one or more addresses, separated by commas.")
        bad = [a for a in addresses if not ADDRESS_RE.match(a)]
        if bad:
            raise ValidationError(f"Not an e-mail address: {bad[0]}")
        return
    parts = urlsplit(field.data or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("An http:// or https:// URL with a host.")
    if parts.username or parts.password:
        raise ValidationError("Put no credentials in the URL; generic targets sign with a secret.")


class TargetForm(Form):
    name = StringField(
        "Name", validators=[DataRequired(), Length(max=63), Regexp(NAME_RE, message=NAME_MESSAGE)]
    )
    kind = SelectField(
        "Kind",
        choices=[SelectChoice(kind.value, kind.label) for kind in TargetKind],
        validators=[DataRequired()],
    )
    url = StringField("URL", validators=[DataRequired(), Length(max=1024), check_url])
    secret = PasswordField(
        "Signing secret",
        validators=[Optional(), Length(min=16, max=256)],
        description="Generic targets: the HMAC-SHA256 key of the X-Slipway-Signature header "
        "(at least 16 characters). Leave empty to keep the current one.",
    )
    events = CheckboxesField(
        "Events",
        choices=[SelectChoice(key, label) for key, label in EVENTS.items()],
        validators=[DataRequired("Pick at least one event.")],
    )
    enabled = BooleanField("Enabled", default=True)

    def __init__(self, *args, has_secret: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_secret = has_secret

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        generic = self.kind.data == TargetKind.GENERIC.value
        if generic and not self.secret.data and not self.has_secret:
            self.secret.errors = [*self.secret.errors, "A generic target needs a signing secret."]
            valid = False
        return valid
