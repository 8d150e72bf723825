"""Candidates, offers and assignment: HTTP routes."""

from __future__ import annotations

from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.dispatch import board, offers, schemas, service
from homecare.pagination import ListPage

blp = Blueprint("dispatch", __name__, description="Candidates, offers and assignment")


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


@blp.route("/orders/<int:order_id>/candidates")
class OrderCandidates(MethodView):
    @blp.auth("supervisor", "admin")
    @blp.arguments(schemas.CandidateQueryArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, schemas.CandidateSchema(many=True))
    @blp.paginate(ListPage)
    @blp.problems(404, 409)
    def get(self, order_id, explain=None):
        """Eligible nurses for the order, best first; `?explain=<nurse_id>` for one nurse

        Hard filters (a nurse breaking any is not a candidate; `explain` names the
        first she breaks): `organization`, `current_nurse`, `not_active`,
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
        return service.find_candidates(session=db.session, actor=current_actor(),
                                       order_id=order_id, now=utcnow(), config=current_config(),
                                       explain_nurse_id=explain)


@blp.route("/orders/<int:order_id>/assign")
class OrderAssign(MethodView):
    @blp.auth("supervisor")
    @blp.arguments(schemas.AssignSchema)
    @blp.response(200, schemas.AssignmentSchema)
    @blp.problems(404, 409, 422)
    def post(self, body, order_id):
        """Assign a nurse directly, or reassign; every hard filter applies

        422 `nurse_not_eligible` names the broken rule in `rule`. Open offers are
        withdrawn; the family, the new nurse and any nurse taken off are told.
        """
        return service.assign_nurse(session=db.session, actor=current_actor(),
                                    order_id=order_id, now=utcnow(), config=current_config(),
                                    **body)


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
