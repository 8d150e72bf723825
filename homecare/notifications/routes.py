"""Notifications for the apps: HTTP routes."""

from __future__ import annotations

from flask.views import MethodView

from homecare.api import Blueprint
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.notifications import schemas, service

blp = Blueprint("notifications", __name__, description="Notifications for the apps")


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.auth()
    @blp.arguments(schemas.NotificationQueryArgsSchema, location="query")
    @blp.response(200, schemas.NotificationSchema(many=True))
    @blp.paginate(service.NotificationPage)
    def get(self, args):
        """The caller's notifications, newest first"""
        return service.list_notifications(session=db.session, actor=current_actor(), **args)


@blp.route("/notifications/<int:notification_id>/read")
class NotificationRead(MethodView):
    @blp.auth()
    @blp.response(200, schemas.NotificationSchema)
    @blp.problems(404)
    def post(self, notification_id):
        """Mark one of the caller's notifications read"""
        return service.mark_read(session=db.session, actor=current_actor(),
                                 notification_id=notification_id, now=utcnow())
