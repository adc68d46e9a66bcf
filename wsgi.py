"""WSGI entry point: ``gunicorn wsgi:app``. Applies pending migrations on start."""

from webapp import create_app
from webapp.database import upgrade_on_start

app = create_app()
upgrade_on_start(app)
