"""The audit trail: HTTP routes (read only; nothing updates or deletes it)."""

from __future__ import annotations

from flask.views import MethodView

from homecare.audit import schemas, service
from homecare.auth import current_actor
from homecare.extensions import Blueprint, QueryPage, db, utcnow

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
        return service.search_trail(session=db.session, actor=current_actor(), now=utcnow(),
                                    **args)


@blp.route("/orders/<int:order_id>/audit")
class OrderAudit(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.response(200, schemas.AuditEntrySchema(many=True))
    @blp.paginate(QueryPage)
    @blp.problems(404)
    def get(self, order_id):
        """The order's trail, oldest first: transitions, care-record reads, alerts, offers"""
        return service.list_order_trail(session=db.session, actor=current_actor(),
                                        order_id=order_id)
