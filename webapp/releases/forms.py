"""WTForms for starting a release and deciding on an approval."""

from __future__ import annotations

from wtforms import SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.boundary import Form, id_value


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class StartReleaseForm(Form):
    version_id = SelectField("Version", coerce=id_value, validators=[DataRequired()])
    # The version's services, all checked; one left unchecked is not deployed.
    services = CheckboxesField("Services to deploy", validators=[Optional()])
    # "1" when the checkboxes were on the page (the partial writes the hidden input; not
    # a HiddenField, which hidden_tag() would render a second time): without it, all deploy.
    services_shown = StringField()

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.services_shown.data and not self.services.data and not self.services.errors:
            self.services.errors = ["Pick at least one service to deploy."]
            valid = False
        return valid

    def selected_services(self) -> list[str] | None:
        """The names to deploy, or None for all (every one checked, or no checkboxes shown)."""
        if not self.services_shown.data:
            return None
        names = {choice.value for choice in self.services.choices}
        chosen = list(self.services.data or [])
        return None if set(chosen) == names else chosen


class DecisionForm(Form):
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=4000)])
    approve = SubmitField("Approve")
    reject = SubmitField("Reject")
