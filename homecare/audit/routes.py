"""The audit trail: HTTP routes (read only; nothing updates or deletes it).

An order's own trail, ``GET /orders/{id}/audit``, is in ``orders/routes.py``.
"""

from __future__ import annotations

from flask.views import MethodView

from homecare.api import Blueprint
from homecare.audit import schemas
from homecare.audit.search import search_trail
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.pagination import QueryPage

blp = Blueprint("audit", __name__, description="The audit trail")


@blp.route("/audit")
class AuditTrail(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.arguments(schemas.AuditQueryArgsSchema, location="query")
    @blp.response(200, schemas.AuditEntrySchema(many=True))
    @blp.paginate(QueryPage)
    def get(self, args):
        """The audit trail, newest first, filtered by subject, actor and time span
        (a supervisor sees her organization's); this read is itself on the trail"""
        return search_trail(session=db.session, actor=current_actor(), now=utcnow(), **args)
