"""``flask`` sub-commands of the app: users, worker, jobs.

``flask images`` (jobs/oci/cli.py) and ``flask demo`` (sandbox/demo_cli.py) are
plugin commands (pyproject.toml's entry points): flask finds them without the app.
"""

from flask import Flask

from webapp.cli.jobs import jobs_cli, worker_command
from webapp.cli.users import users_cli


def register_commands(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(jobs_cli)
