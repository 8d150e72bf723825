"""The audit trail: HTTP routes (read only; nothing updates or deletes it)."""

from __future__ import annotations

from flask.views import MethodView

from homecare.api import Blueprint
from homecare.audit import schemas
from homecare.auth import current_actor
from homecare.db import db
from homecare.orders import trail
from homecare.pagination import QueryPage

blp = Blueprint("audit", __name__, description="The audit trail")


@blp.route("/orders/<int:order_id>/audit")
class OrderAudit(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.response(200, schemas.AuditEntrySchema(many=True))
    @blp.paginate(QueryPage)
    @blp.problems(404)
    def get(self, order_id):
        """The order's trail, oldest first: transitions, care-record reads, alerts, offers"""
        return trail.list_order_trail(session=db.session, actor=current_actor(),
                                      order_id=order_id)
