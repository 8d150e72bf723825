"""Pagination of lists in the HTTP API: in the database (queries, listings of views)
or in memory."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask_smorest.pagination import Page
from sqlalchemy.orm import Session

from homecare.db import db

# The X-Pagination response header as the OpenAPI document describes it (flask-smorest
# documents it as an object; on the wire it is a JSON object in a string).
PAGINATION_HEADER = {
    "description": "Pagination metadata, a JSON object sent as a string: "
                   '{"total": int, "total_pages": int, "first_page": int, "last_page": int, '
                   '"page": int, "previous_page": int, "next_page": int} (pages absent '
                   "where there is none)",
    "schema": {"type": "string"},
}


class QueryPage(Page):
    """Paginate a SQLAlchemy ``Select`` in the database, not in memory."""

    @property
    def item_count(self) -> int:
        stmt = self.collection.order_by(None)
        return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))

    @property
    def items(self) -> list[Any]:
        if not isinstance(self.collection, sa.Select):
            return list(self.collection)[self.page_params.first_item:
                                         self.page_params.last_item + 1]
        if self.page_params.first_item >= self.item_count:
            # Past the end: answer empty instead of sending the database an
            # offset it may not be able to represent.
            return []
        stmt = self.collection.limit(self.page_params.page_size).offset(
            self.page_params.first_item)
        return list(db.session.scalars(stmt))


class Listing(NamedTuple):
    """A query and how a page of its rows becomes views, for lists whose items need
    more than their rows (masking by viewer, facts from other tables)."""

    stmt: sa.Select
    session: Session
    views: Callable[[list[Any]], list[Any]]


class ViewPage(Page):
    """Paginate a ``Listing`` in the database, then build views for that page only."""

    @functools.cached_property
    def item_count(self) -> int:
        listing = self.collection
        return listing.session.scalar(sa.select(sa.func.count()).select_from(
            listing.stmt.order_by(None).subquery()))

    @property
    def items(self) -> list[Any]:
        listing = self.collection
        if self.page_params.first_item >= self.item_count:
            # Past the end: empty, without sending the database an offset it may
            # not be able to represent.
            return []
        rows = list(listing.session.scalars(listing.stmt.limit(self.page_params.page_size)
                                            .offset(self.page_params.first_item)))
        return listing.views(rows)


class ListPage(Page):
    """Paginate a list already in memory (small, computed collections)."""
