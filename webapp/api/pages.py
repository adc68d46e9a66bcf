"""Paging API lists: ``?page=N&per_page=M`` (at most 100)."""

from __future__ import annotations

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select

from webapp.api.schemas import PageQuery
from webapp.extensions import db


def page_of(statement: Select, query: PageQuery) -> tuple[Pagination, dict]:
    page = db.paginate(statement, page=query.page, per_page=query.per_page, error_out=False)
    return page, {
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total or 0,
        "pages": page.pages,
    }
