"""WTForms for the Helm parts of the version form: values editors, global variables, charts.

Plain ``Form`` classes: they ride along with the step's ``FlaskForm``, which checks CSRF.
Values are checked by ``jobs.helm.values.parse_values`` (size limit, YAML mapping) and
chart versions by ``helm_wizard.check_charts``.
"""

from __future__ import annotations

from wtforms import FieldList, Form, FormField, HiddenField, SelectField, StringField, TextAreaField


class ValuesRowForm(Form):
    service_id = HiddenField()
    values = TextAreaField("values.yaml")


class HelmValuesForm(Form):
    values = FieldList(FormField(ValuesRowForm))
    globals_yaml = TextAreaField(
        "Global variables",
        description="A YAML block. Apply sets each of its keys in every service's values "
        "that already has that key; Reset restores the values from before Apply.",
    )


class ChartRowForm(Form):
    service_id = HiddenField()
    version = StringField("New chart version")


class HelmChartsForm(Form):
    chart_registry_id = SelectField("Chart repository", coerce=int)
    charts = FieldList(FormField(ChartRowForm))
