"""WTForms for the Helm parts of the version form: values editors, global variables, charts.

Plain ``Form`` classes: they ride along with the step's ``FlaskForm``, which checks CSRF.
"""

from __future__ import annotations

from wtforms import FieldList, Form, FormField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

MAX_VALUES_CHARS = 512 * 1024


class ValuesRowForm(Form):
    service_id = HiddenField()
    values = TextAreaField("values.yaml", validators=[Length(max=MAX_VALUES_CHARS)])


class HelmValuesForm(Form):
    values = FieldList(FormField(ValuesRowForm))
    globals_yaml = TextAreaField(
        "Global variables",
        description="A YAML block. Apply sets each of its keys in every service's values "
        "that already has that key; Reset restores the values from before Apply.",
        validators=[Optional(), Length(max=MAX_VALUES_CHARS)],
    )


class ChartRowForm(Form):
    service_id = HiddenField()
    version = StringField("New chart version", validators=[Length(max=64)])


class HelmChartsForm(Form):
    chart_registry_id = SelectField("Chart repository", coerce=int)
    charts = FieldList(FormField(ChartRowForm))
