"""Error pages: a person sees a page, never a traceback."""

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webapp.extensions import db


def register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        message = "The form expired or was sent from elsewhere. Reload the page and try again."
        return render_template("errors/error.html", code=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return (
            render_template("errors/error.html", code=error.code, message=error.description),
            error.code,
        )

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        message = "Something went wrong on our side. The error was logged."
        return render_template("errors/error.html", code=500, message=message), 500
