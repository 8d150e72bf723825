"""Every route under /dispatch (the board, the day plan) and /offers."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.dispatch import board, offers, schemas
from homecare.pagination import ListPage, ViewPage
from homecare.scheduling import repair_queue
from homecare.scheduling import schemas as plan_schemas
from homecare.scheduling import service as planning

blp = Blueprint("dispatch", __name__, description="The dispatch board, the day plan, offers")


@blp.route("/dispatch/board")
class DispatchBoard(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.arguments(schemas.BoardQueryArgsSchema, location="query")
    @blp.response(200, schemas.BoardSchema)
    @blp.problems(404)
    def get(self, args):
        """The supervisor console's day: orders by status, unassigned orders, nurses, alerts

        Counts every order status of the day (zeros included); lists the orders
        still submitted, approved or offered by window; the active nurses with a
        shift touching the day, with her last ping while fresh
        (HOMECARE_DISPATCH_PING_MAX_AGE_MINUTES, else null) and her load (visits of
        the day held or completed) against her daily cap; open alerts by kind and
        the open SOS and critical ones. `date` is the local day (default today);
        an admin names `organization_id` (else 422 `organization_required`).
        """
        return board.dispatch_board(session=db.session, actor=current_actor(),
                                    day=args.get("date"), now=utcnow(),
                                    config=current_config(),
                                    organization_id=args.get("organization_id"))


@blp.route("/dispatch/plan")
class DispatchPlan(MethodView):
    @blp.auth("supervisor", "admin")
    # Unknown query fields are refused here (not ignored as on reads): a
    # mistyped ``reassign`` must not quietly plan the day another way.
    @blp.arguments(plan_schemas.DayPlanCreateArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200, plan_schemas.DayPlanSchema)
    @blp.problems(404)
    def post(self, args):
        """Plan the day's routes: per nurse her ordered visits, and the unplannable orders

        Assigns the approved and offered orders the plan gives a nurse; orders
        nurses accepted stay with them unless `reassign=true`. Visits under way
        or done are kept. Unplannable orders keep their status and are listed
        with a reason: `no_qualified_nurse`, `window_unreachable` or `capacity`;
        `nurse_day_changed` when the nurse they were planned for took on another
        visit while the day was being planned (her day is left as it was). The
        day is today up to the booking horizon ahead (else 422 `day_in_past` or
        `day_beyond_horizon`).
        """
        return planning.plan_day(session=db.session, actor=current_actor(), day=args["date"],
                                now=utcnow(), config=current_config(),
                                organization_id=args.get("organization_id"),
                                reassign=args["reassign"])

    @blp.auth("supervisor", "admin")
    @blp.arguments(plan_schemas.DayPlanQueryArgsSchema, location="query")
    @blp.response(200, plan_schemas.DayPlanSchema)
    @blp.problems(404)
    def get(self, args):
        """The day's latest plan: when it was made, by whom, and what it said"""
        return planning.get_day_plan(session=db.session, actor=current_actor(),
                                    day=args["date"],
                                    organization_id=args.get("organization_id"))


@blp.route("/dispatch/plan/repairs")
class DispatchPlanRepairs(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.arguments(plan_schemas.DayPlanQueryArgsSchema, location="query")
    @blp.response(200, plan_schemas.DayRepairSchema(many=True))
    @blp.paginate(ViewPage)
    @blp.problems(404)
    def get(self, args):
        """The day's plan repairs, newest first: what changed, why, and when

        A change to a planned day (an order approved, taken back from its nurse,
        cancelled, expired or a no-show, a nurse unavailable, a visit running over)
        queues a repair of that day, run by the jobs process a few seconds later
        (HOMECARE_REPAIR_DEBOUNCE_SECONDS: changes close together make one repair).
        Each lists its reasons, its state and times, and once done the diff of the
        day plan it recorded: orders moved, added, dropped and retimed, with reasons.
        """
        return repair_queue.list_repairs(session=db.session, actor=current_actor(),
                                         day=args["date"],
                                         organization_id=args.get("organization_id"))


@blp.route("/offers")
class Offers(MethodView):
    @blp.auth("nurse")
    @blp.response(200, schemas.OfferSchema(many=True))
    @blp.paginate(ListPage)
    def get(self):
        """The caller's open offers, soonest deadline first

        Service, window, distance, pay and district only: the patient's name,
        address, phone and conditions are shown once she has accepted.
        """
        return offers.list_offers(session=db.session, actor=current_actor(), now=utcnow())


@blp.route("/offers/<int:offer_id>/accept")
class OfferAccept(MethodView):
    @blp.auth("nurse")
    @blp.response(200, schemas.AssignmentSchema)
    @blp.problems(404, 409)
    def post(self, offer_id):
        """Accept an offer: the first accept wins the visit

        409 `offer_taken` (someone else was first, or it was cancelled),
        `offer_expired` (past the deadline), `slot_taken` (it no longer fits her
        day), `offer_not_open` (already answered), `nurse_no_longer_eligible`.
        """
        return offers.accept_offer(session=db.session, actor=current_actor(),
                                    offer_id=offer_id, now=utcnow(), config=current_config())


@blp.route("/offers/<int:offer_id>/decline")
class OfferDecline(MethodView):
    @blp.auth("nurse")
    @blp.arguments(schemas.DeclineSchema)
    @blp.response(200, schemas.OfferAnswerSchema)
    @blp.problems(404, 409)
    def post(self, body, offer_id):
        """Decline an offer, saying why"""
        return offers.decline_offer(session=db.session, actor=current_actor(),
                                     offer_id=offer_id, now=utcnow(), config=current_config(),
                                     **body)
