"""One way to page through a query from ``?page=N``."""

from __future__ import annotations

from flask import current_app
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select

from webapp.boundary import page_number
from webapp.extensions import db


def paginate(query: Select) -> Pagination:
    return db.paginate(
        query,
        page=page_number(),
        per_page=current_app.config["PAGE_SIZE"],
        error_out=False,
    )
