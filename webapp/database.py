"""Schema upgrades on start."""

from flask import Flask
from flask_migrate import upgrade


def upgrade_on_start(app: Flask) -> None:
    """Apply pending migrations unless ``SLIPWAY_AUTO_MIGRATE=false``."""
    if not app.config.get("AUTO_MIGRATE", True):
        return
    with app.app_context():
        upgrade()
