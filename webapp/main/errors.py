"""Error pages: a person sees a page, never a traceback."""

from flask import Flask, jsonify, render_template, request
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
        if request.path.startswith("/api/"):  # no API route matched: still a JSON answer
            return jsonify({"error": error.description, "field": None}), error.code
        return (
            render_template("errors/error.html", code=error.code, message=error.description),
            error.code,
        )

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        if request.path.startswith("/api/"):
            return jsonify({"error": "Internal error; it was logged.", "field": None}), 500
        message = "Something went wrong on our side. The error was logged."
        return render_template("errors/error.html", code=500, message=message), 500
