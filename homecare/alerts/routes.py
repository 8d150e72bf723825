"""Alerts for the supervisor console: HTTP routes."""

from __future__ import annotations

from flask.views import MethodView

from homecare.alerts import schemas, service
from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.pagination import QueryPage

blp = Blueprint("alerts", __name__, description="Alerts for the supervisor console")


@blp.route("/alerts")
class Alerts(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.arguments(schemas.AlertQueryArgsSchema, location="query")
    @blp.response(200, schemas.AlertSchema(many=True))
    @blp.paginate(QueryPage)
    def get(self, args):
        """The organization's alerts, newest first; filter by kind, status, local date"""
        return service.list_alerts(session=db.session, actor=current_actor(),
                                   config=current_config(),
                                   kind=args.get("kind"), status=args.get("status"),
                                   day=args.get("date"), order_id=args.get("order_id"))


@blp.route("/alerts/<int:alert_id>")
class AlertById(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.response(200, schemas.AlertSchema)
    @blp.problems(404)
    def get(self, alert_id):
        """One alert"""
        return service.access_alert(db.session, current_actor(), alert_id)


@blp.route("/alerts/<int:alert_id>/ack")
class AlertAck(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.response(200, schemas.AlertSchema)
    @blp.problems(404, 409)
    def post(self, alert_id):
        """Acknowledge an open alert: the supervisor takes it on (who and when are kept)"""
        return service.acknowledge_alert(session=db.session, actor=current_actor(),
                                         alert_id=alert_id, now=utcnow())


@blp.route("/alerts/<int:alert_id>/resolve")
class AlertResolve(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.arguments(schemas.AlertResolveSchema)
    @blp.response(200, schemas.AlertSchema)
    @blp.problems(404, 409)
    def post(self, body, alert_id):
        """Resolve an alert, with an optional note for the audit trail"""
        return service.resolve_alert(session=db.session, actor=current_actor(),
                                     alert_id=alert_id, now=utcnow(), note=body["note"])
