"""Visit execution: depart, check in, check out, SOS, the care record: HTTP routes."""

from __future__ import annotations

from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.visits import schemas, service

blp = Blueprint("visits", __name__, description="Visit execution: depart, check in, check out, SOS")


@blp.route("/orders/<int:order_id>/depart")
class OrderDepart(MethodView):
    @blp.auth("nurse")
    @blp.response(200, schemas.DepartureSchema)
    @blp.problems(404, 409)
    def post(self, order_id):
        """The assigned nurse sets off: assigned -> en_route.

        From `HOMECARE_DEPART_LEAD_MINUTES` (default 180) before the window opens;
        earlier is 409 `too_early_to_depart` with the `earliest` time.
        """
        return service.depart(session=db.session, actor=current_actor(), order_id=order_id,
                              now=utcnow(), config=current_config())


@blp.route("/orders/<int:order_id>/check-in")
class OrderCheckIn(MethodView):
    @blp.auth("nurse")
    @blp.arguments(schemas.CheckInSchema)
    @blp.response(200, schemas.CheckInOutSchema)
    @blp.problems(404, 409)
    def post(self, body, order_id):
        """Check in at the address (any coord_system): en_route -> in_service.

        Outside the geofence the check-in is accepted but flagged, and a
        `geofence` alert opens.
        """
        return service.check_in(session=db.session, actor=current_actor(), order_id=order_id,
                                now=utcnow(), config=current_config(), **body)


@blp.route("/orders/<int:order_id>/check-out")
class OrderCheckOut(MethodView):
    @blp.auth("nurse")
    @blp.arguments(schemas.CheckOutSchema)
    @blp.response(200, schemas.VisitRecordSchema)
    @blp.problems(404, 409)
    def post(self, body, order_id):
        """Check out with the care record (vitals, procedures, notes): in_service -> completed"""
        return service.check_out(session=db.session, actor=current_actor(), order_id=order_id,
                                 now=utcnow(), **body)


@blp.route("/orders/<int:order_id>/sos")
class OrderSos(MethodView):
    @blp.auth("nurse")
    @blp.arguments(schemas.SosSchema)
    @blp.response(201, schemas.SosAlertSchema)
    @blp.problems(404)
    def post(self, body, order_id):
        """One-key alarm: a critical alert with the nurse's position, supervisors paged

        Accepted for any order the nurse holds or has held, also once it was
        cancelled or reassigned. Unlike every other body, this one is lenient and
        never answered 422: a position that fails validation (accuracy_m -1, an
        unknown coord_system, lat without lng) is dropped and her last reported
        position used instead, a note too long is cut and unknown fields are
        ignored; the alert's detail says what was dropped and why.
        """
        # Lenient on purpose: a nurse in danger must never have her alarm refused
        # over a malformed field (see SosSchema).
        return service.raise_sos(session=db.session, actor=current_actor(), order_id=order_id,
                                 now=utcnow(), **body)


@blp.route("/orders/<int:order_id>/care-record")
class OrderCareRecord(MethodView):
    @blp.auth("patient", "nurse", "supervisor", "admin")
    @blp.response(200, schemas.VisitRecordSchema)
    @blp.problems(404)
    def get(self, order_id):
        """The visit record and its care record; every read is on the audit trail"""
        return service.read_care_record(session=db.session, actor=current_actor(),
                                        order_id=order_id, now=utcnow())
