"""WTForms for starting a release and deciding on an approval."""

from __future__ import annotations

from wtforms import SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from webapp.boundary import Form, id_value


class StartReleaseForm(Form):
    version_id = SelectField("Version", coerce=id_value, validators=[DataRequired()])


class DecisionForm(Form):
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=4000)])
    approve = SubmitField("Approve")
    reject = SubmitField("Reject")
