"""Every route under /orders: booking, vetting, candidates and assignment, the visit
(depart, check in, check out, SOS), the care record, events and the audit trail."""

from __future__ import annotations

from flask import Response, json
from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.audit import schemas as audit_schemas
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.dispatch import handback
from homecare.dispatch import schemas as dispatch_schemas
from homecare.dispatch import service as dispatch
from homecare.orders import schemas, service, trail
from homecare.orders.idempotency import REPLAY_HEADER, Replay
from homecare.pagination import ListPage, QueryPage, ViewPage
from homecare.visits import corrections, door, no_show, tracking
from homecare.visits import schemas as visit_schemas
from homecare.visits import service as visits

blp = Blueprint("orders", __name__,
                description="Orders: booking, the lifecycle, dispatch, the visit and its record")


def _replayed(replay: Replay) -> Response:
    """The stored first response, sent again as it was, marked as a replay."""
    return Response(json.dumps(replay.body), status=replay.status_code,
                    mimetype="application/json", headers={REPLAY_HEADER: "true"})


_REPLAY_DOC = {REPLAY_HEADER: {"description": "`true` when this is the stored response to an "
                                              "earlier request with the same Idempotency-Key",
                               "schema": {"type": "string"}}}


# One instance for every booking: building a schema (its fields copied) was a fortieth
# of a booking's CPU, and dumping changes nothing in it.
_ORDER_OUT = schemas.OrderSchema()


@blp.route("/orders")
class Orders(MethodView):
    @blp.auth("patient")
    @blp.arguments(schemas.OrderCreateSchema)
    @blp.arguments(schemas.IdempotencyHeaderSchema, location="headers")
    @blp.response(201, schemas.OrderSchema, headers=_REPLAY_DOC)
    @blp.problems(409, 422)
    def post(self, body, headers):
        """Book a visit for one of the caller's care recipients"""
        result = service.place_order(session=db.session, actor=current_actor(), body=body,
                                     idempotency_key=headers.get("idempotency_key"),
                                     now=utcnow(), config=current_config(),
                                     render=_ORDER_OUT.dump)
        if isinstance(result, Replay):
            return _replayed(result)
        # Already dumped by OrderSchema (the body the key keeps): not dumped twice.
        return Response(json.dumps(result), status=201, mimetype="application/json")

    @blp.auth("patient", "nurse", "supervisor", "admin")
    @blp.arguments(schemas.OrderQueryArgsSchema, location="query")
    @blp.response(200, schemas.OrderSchema(many=True))
    @blp.paginate(ViewPage)
    def get(self, args):
        """Orders the caller may see: her recipients', assigned to her, her organization's"""
        return service.list_orders(session=db.session, actor=current_actor(), **args)


@blp.route("/orders/<int:order_id>")
class OrderById(MethodView):
    @blp.auth("patient", "nurse", "supervisor", "admin")
    @blp.response(200, schemas.OrderSchema)
    @blp.problems(404)
    def get(self, order_id):
        """One order, with the recipient's details as far as the caller may see them"""
        return service.get_order_view(session=db.session, actor=current_actor(),
                                      order_id=order_id, now=utcnow())


@blp.route("/orders/<int:order_id>/approve")
class OrderApprove(MethodView):
    @blp.auth("supervisor")
    @blp.arguments(schemas.OrderApproveSchema)
    @blp.response(200, schemas.OrderSchema)
    @blp.problems(404, 409)
    def post(self, body, order_id):
        """Approve a submitted order (first-visit assessment); it goes to dispatch"""
        return service.approve_order(session=db.session, actor=current_actor(),
                                     order_id=order_id, now=utcnow(), config=current_config(),
                                     **body)


@blp.route("/orders/<int:order_id>/assign")
class OrderAssign(MethodView):
    @blp.auth("supervisor")
    @blp.arguments(dispatch_schemas.AssignSchema)
    @blp.response(200, dispatch_schemas.AssignmentSchema)
    @blp.problems(404, 409, 422)
    def post(self, body, order_id):
        """Assign a nurse directly, or reassign; every hard filter applies

        422 `nurse_not_eligible` names the broken rule in `rule`. Open offers are
        withdrawn; the family, the new nurse and any nurse taken off are told.
        """
        return dispatch.assign_nurse(session=db.session, actor=current_actor(),
                                    order_id=order_id, now=utcnow(), config=current_config(),
                                    **body)


@blp.route("/orders/<int:order_id>/unassign")
class OrderUnassign(MethodView):
    @blp.auth("supervisor", "nurse")
    @blp.arguments(dispatch_schemas.UnassignSchema)
    @blp.response(200, dispatch_schemas.UnassignedSchema)
    @blp.problems(404, 409, 422)
    def post(self, body, order_id):
        """Take an assigned order back from its nurse into dispatch (re-offered as usual).

        A supervisor at any time before the nurse departs; the nurse herself until
        HOMECARE_HANDBACK_LEAD_MINUTES before the window opens (else 409
        `handback_too_late`). The family and the nurse are told.
        """
        return handback.unassign(session=db.session, actor=current_actor(), order_id=order_id,
                                 now=utcnow(), config=current_config(), **body)


@blp.route("/orders/<int:order_id>/audit")
class OrderAudit(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.response(200, audit_schemas.AuditEntrySchema(many=True))
    @blp.paginate(QueryPage)
    @blp.problems(404)
    def get(self, order_id):
        """The order's trail, oldest first: transitions, care-record reads, alerts, offers"""
        return trail.list_order_trail(session=db.session, actor=current_actor(),
                                      order_id=order_id)


@blp.route("/orders/<int:order_id>/cancel")
class OrderCancel(MethodView):
    @blp.auth("patient", "supervisor")
    @blp.arguments(schemas.OrderCancelSchema)
    @blp.response(200, schemas.OrderSchema)
    @blp.problems(404, 409, 422)
    def post(self, body, order_id):
        """Cancel: the owner until the nurse departs; a supervisor at any stage, with a reason"""
        return service.cancel_order(session=db.session, actor=current_actor(),
                                    order_id=order_id, now=utcnow(), **body)


@blp.route("/orders/<int:order_id>/candidates")
class OrderCandidates(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.arguments(dispatch_schemas.CandidateQueryArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, dispatch_schemas.CandidateSchema(many=True))
    @blp.paginate(ListPage)
    @blp.problems(404, 409)
    def get(self, order_id, explain=None):
        """Eligible nurses for the order, best first; `?explain=<nurse_id>` for one nurse

        Hard filters (a nurse breaking any is not a candidate; `explain` names the
        first she breaks): `organization`, `current_nurse`, `not_active`,
        `credentials` (her licence and liability insurance cover the visit's date),
        `experience` and `qualification_title` (the Internet+nursing gate),
        `item_title`, `skills`, `service_radius` (geodesic from home),
        `window_closed`, `shift` (a shift lets her arrive inside the window and
        finish), `daily_cap`, `schedule_conflict` (the visit fits between her
        accepted visits without breaking a window, travel included).

        score = (w_travel*travel + w_continuity*continuity + w_balance*balance +
        w_rating*rating) / sum of weights, every part in [0, 1]: travel = 1 -
        min(eta, horizon)/horizon from where she will be before the visit;
        continuity = 1 if she visited this care recipient before; balance = 1 -
        visits that day / daily cap; rating = mean review shrunk towards 3 stars,
        mapped 1-5 to 0-1. Weights and horizon are HOMECARE_SCORE_* settings.
        """
        return dispatch.find_candidates(session=db.session, actor=current_actor(),
                                       order_id=order_id, now=utcnow(), config=current_config(),
                                       explain_nurse_id=explain)


@blp.route("/orders/<int:order_id>/care-record")
class OrderCareRecord(MethodView):
    @blp.auth("patient", "nurse", "supervisor", "admin")
    @blp.response(200, visit_schemas.VisitRecordSchema)
    @blp.problems(404)
    def get(self, order_id):
        """The visit record and its care record; every read is on the audit trail"""
        return visits.read_care_record(session=db.session, actor=current_actor(),
                                        order_id=order_id, now=utcnow())


@blp.route("/orders/<int:order_id>/check-in")
class OrderCheckIn(MethodView):
    @blp.auth("nurse")
    @blp.arguments(visit_schemas.CheckInSchema)
    @blp.response(200, visit_schemas.CheckInOutSchema)
    @blp.problems(404, 409)
    def post(self, body, order_id):
        """Check in at the address (any coord_system): en_route -> in_service.

        Outside the geofence the check-in is accepted but flagged, and a
        `geofence` alert opens.
        """
        return visits.check_in(session=db.session, actor=current_actor(), order_id=order_id,
                                now=utcnow(), config=current_config(), **body)


@blp.route("/orders/<int:order_id>/no-show")
class OrderNoShow(MethodView):
    @blp.auth("nurse", "supervisor")
    @blp.arguments(visit_schemas.NoShowSchema)
    @blp.response(200, visit_schemas.NoShowOutSchema)
    @blp.problems(404, 409, 422)
    def post(self, body, order_id):
        """The patient was not at home or refused: -> no_show.

        The assigned nurse reports it at the door with her position (checked against
        the geofence like a check-in: outside, accepted but flagged with a `geofence`
        alert); a supervisor marks one with a reason. The family is told, and the
        order's `late`/`no_show` alerts resolve.
        """
        return no_show.report_no_show(session=db.session, actor=current_actor(),
                                      order_id=order_id, now=utcnow(), config=current_config(),
                                      **body)


@blp.route("/orders/<int:order_id>/tracking")
class OrderTracking(MethodView):
    @blp.auth("patient")
    @blp.response(200, visit_schemas.TrackingSchema)
    @blp.problems(404, 409)
    def get(self, order_id):
        """Where the nurse is on her way to the owner's visit, and her ETA.

        Only while she is `en_route` to this order (409 `not_en_route` before she
        sets off and after she checks in); only for the owner.
        """
        return tracking.track(session=db.session, actor=current_actor(), order_id=order_id,
                              config=current_config())


@blp.route("/orders/<int:order_id>/check-out")
class OrderCheckOut(MethodView):
    @blp.auth("nurse")
    @blp.arguments(visit_schemas.CheckOutSchema)
    @blp.response(200, visit_schemas.VisitRecordSchema)
    @blp.problems(404, 409)
    def post(self, body, order_id):
        """Check out with the care record (vitals, procedures, notes): in_service -> completed"""
        return visits.check_out(session=db.session, actor=current_actor(), order_id=order_id,
                                 now=utcnow(), **body)


@blp.route("/orders/<int:order_id>/confirm-nurse")
class OrderConfirmNurse(MethodView):
    @blp.auth("patient")
    @blp.response(200, visit_schemas.ConfirmNurseSchema)
    @blp.problems(404, 409)
    def post(self, order_id):
        """The family confirms in the app that the nurse at the door is the one sent

        From departure until the visit ends (else 409 `nurse_not_at_door`);
        idempotent. After a flagged check-in it resolves the `door_unverified`
        alert; the flag stays on the visit record.
        """
        return door.confirm_nurse(session=db.session, actor=current_actor(),
                                  order_id=order_id, now=utcnow())


@blp.route("/orders/<int:order_id>/corrections")
class OrderCorrections(MethodView):
    @blp.auth("nurse")
    @blp.arguments(visit_schemas.CorrectionCreateSchema)
    @blp.response(201, visit_schemas.CorrectionSchema)
    @blp.problems(404, 409, 422)
    def post(self, body, order_id):
        """The visit's nurse asks for corrected check-in/out times, with a reason

        For a visit in service or completed; one pending request at a time
        (409 `correction_pending`). A supervisor approves or rejects it.
        """
        return corrections.request_correction(session=db.session, actor=current_actor(),
                                              order_id=order_id, now=utcnow(), **body)

    @blp.auth("patient", "nurse", "supervisor", "admin")
    @blp.response(200, visit_schemas.CorrectionSchema(many=True))
    @blp.paginate(QueryPage)
    @blp.problems(404)
    def get(self, order_id):
        """The visit's time corrections, with the original times, oldest first"""
        return corrections.list_corrections(session=db.session, actor=current_actor(),
                                            order_id=order_id)


@blp.route("/orders/<int:order_id>/corrections/<int:correction_id>/approve")
class OrderCorrectionApprove(MethodView):
    @blp.auth("supervisor")
    @blp.arguments(visit_schemas.CorrectionDecisionSchema)
    @blp.response(200, visit_schemas.CorrectionSchema)
    @blp.problems(404, 409, 422)
    def post(self, body, order_id, correction_id):
        """Approve: the visit's times become the corrected ones (originals kept)"""
        return corrections.approve_correction(session=db.session, actor=current_actor(),
                                              order_id=order_id, correction_id=correction_id,
                                              now=utcnow(), **body)


@blp.route("/orders/<int:order_id>/corrections/<int:correction_id>/reject")
class OrderCorrectionReject(MethodView):
    @blp.auth("supervisor")
    @blp.arguments(visit_schemas.CorrectionDecisionSchema)
    @blp.response(200, visit_schemas.CorrectionSchema)
    @blp.problems(404, 409, 422)
    def post(self, body, order_id, correction_id):
        """Reject, with a `note` saying why; the recorded times stay"""
        return corrections.reject_correction(session=db.session, actor=current_actor(),
                                             order_id=order_id, correction_id=correction_id,
                                             now=utcnow(), **body)


@blp.route("/orders/<int:order_id>/depart")
class OrderDepart(MethodView):
    @blp.auth("nurse")
    @blp.response(200, visit_schemas.DepartureSchema)
    @blp.problems(404, 409)
    def post(self, order_id):
        """The assigned nurse sets off: assigned -> en_route.

        From `HOMECARE_DEPART_LEAD_MINUTES` (default 180) before the window opens;
        earlier is 409 `too_early_to_depart` with the `earliest` time.
        """
        return visits.depart(session=db.session, actor=current_actor(), order_id=order_id,
                              now=utcnow(), config=current_config())


@blp.route("/orders/<int:order_id>/events")
class OrderEvents(MethodView):
    @blp.auth("patient", "nurse", "supervisor", "admin")
    @blp.response(200, schemas.OrderEventSchema(many=True))
    @blp.paginate(QueryPage)
    @blp.problems(404)
    def get(self, order_id):
        """The order's transitions, oldest first: who moved it, from what to what, when, why"""
        return service.list_events(session=db.session, actor=current_actor(),
                                   order_id=order_id)


@blp.route("/orders/<int:order_id>/reject")
class OrderReject(MethodView):
    @blp.auth("supervisor")
    @blp.arguments(schemas.OrderRejectSchema)
    @blp.response(200, schemas.OrderSchema)
    @blp.problems(404, 409, 422)
    def post(self, body, order_id):
        """Reject a submitted order, saying why"""
        return service.reject_order(session=db.session, actor=current_actor(),
                                    order_id=order_id, now=utcnow(), **body)


@blp.route("/orders/<int:order_id>/review")
class OrderReview(MethodView):
    @blp.auth("patient")
    @blp.arguments(schemas.ReviewSchema)
    @blp.response(201, schemas.ReviewSchema)
    @blp.problems(404, 409)
    def post(self, body, order_id):
        """Rate a completed visit 1-5, once"""
        return service.review_order(session=db.session, actor=current_actor(),
                                    order_id=order_id, now=utcnow(), **body)


@blp.route("/orders/<int:order_id>/sos")
class OrderSos(MethodView):
    @blp.auth("nurse")
    @blp.arguments(visit_schemas.SosSchema)
    @blp.response(201, visit_schemas.SosAlertSchema)
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
        return visits.raise_sos(session=db.session, actor=current_actor(), order_id=order_id,
                                 now=utcnow(), **body)
