"""WTForms for the Helm parts of the version form: values editors, global variables, charts.

Plain forms (``SubForm``): they ride along with the step's ``FlaskForm``, which checks CSRF.
Values are checked by ``jobs.helm.values.parse_values`` (size limit, YAML mapping) and
chart versions by ``helm_wizard.check_charts``.
"""

from __future__ import annotations

from wtforms import FieldList, FormField, HiddenField, SelectField, StringField, TextAreaField

from webapp.boundary import SubForm, id_value


class ValuesRowForm(SubForm):
    service_id = HiddenField()
    values = TextAreaField("values.yaml")


class HelmValuesForm(SubForm):
    values = FieldList(FormField(ValuesRowForm))
    globals_yaml = TextAreaField(
        "Global variables",
        description="A YAML block. Apply sets each of its keys in every service's values "
        "that already has that key; Reset restores the values from before Apply.",
    )


class ChartRowForm(SubForm):
    service_id = HiddenField()
    version = StringField("New chart version")


class HelmChartsForm(SubForm):
    chart_registry_id = SelectField("Chart repository", coerce=id_value)
    charts = FieldList(FormField(ChartRowForm))
