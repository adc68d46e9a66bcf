"""Forms of the people pages and the account pages."""

from __future__ import annotations

import re

from wtforms import PasswordField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from webapp.boundary import Form
from webapp.models import Role, Scope
from webapp.people.services import MIN_PASSWORD

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
ROLE_CHOICES = [SelectChoice(role.value, role.label) for role in Role]


class CreateUserForm(Form):
    username = StringField(
        "Username",
        validators=[
            DataRequired(),
            Length(max=64),
            Regexp(USERNAME_RE, message="Letters, digits, '.', '_' and '-', up to 64."),
        ],
    )
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField(
        "Password",
        description="Leave empty to generate one; it is shown once.",
        validators=[Optional(), Length(min=MIN_PASSWORD, max=256)],
    )


class RoleForm(Form):
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])


class ResetPasswordForm(Form):
    password = PasswordField(
        "New password",
        description="Leave empty to generate one; it is shown once.",
        validators=[Optional(), Length(min=MIN_PASSWORD, max=256)],
    )


class ConfirmForm(Form):
    """A button with its CSRF token, nothing else (deactivate, revoke)."""


class ChangePasswordForm(Form):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=256)])
    new = PasswordField(
        "New password", validators=[DataRequired(), Length(min=MIN_PASSWORD, max=256)]
    )
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new", message="The two passwords differ.")],
    )


EXPIRY_CHOICES = [
    SelectChoice(days, label)
    for days, label in (
        (7, "7 days"),
        (30, "30 days"),
        (90, "90 days"),
        (365, "1 year"),
        (0, "never"),
    )
]


class TokenForm(Form):
    name = StringField(
        "Name",
        description="What uses it, e.g. ci-shop-pipeline.",
        validators=[DataRequired(), Length(max=64)],
    )
    scopes = SelectMultipleField(
        "Scopes",
        choices=[SelectChoice(scope.value, f"{scope.value}: {scope.label}") for scope in Scope],
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
    )
    expires_in = SelectField("Expires in", coerce=int, choices=EXPIRY_CHOICES, default=30)

    def validate_scopes(self, field):
        if not field.data:
            raise ValidationError("Pick at least one scope.")
