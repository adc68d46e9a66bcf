"""``flask`` sub-commands: users, worker, jobs, demo, images."""

from flask import Flask


def register_commands(app: Flask) -> None:
    from webapp.cli.demo import demo_cli
    from webapp.cli.jobs import jobs_cli, worker_command
    from webapp.cli.users import users_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(demo_cli)
    try:
        from webapp.cli.images import images_cli
    except ImportError:  # the image copy CLI lands with its engine
        return
    app.cli.add_command(images_cli)
