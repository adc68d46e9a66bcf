from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from webapp.boundary import Form


class LoginForm(Form):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
