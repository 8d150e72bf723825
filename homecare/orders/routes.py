"""Booking and the order lifecycle: HTTP routes."""

from __future__ import annotations

from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.orders import schemas, service
from homecare.orders.idempotency import REPLAY_HEADER, Replay
from homecare.pagination import QueryPage, ViewPage

blp = Blueprint("orders", __name__, description="Booking and the order lifecycle")

_REPLAY_DOC = {REPLAY_HEADER: {"description": "`true` when this is the stored response to an "
                                              "earlier request with the same Idempotency-Key",
                               "schema": {"type": "string"}}}


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
                                     now=utcnow(), config=current_config())
        return result.as_response() if isinstance(result, Replay) else result

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
