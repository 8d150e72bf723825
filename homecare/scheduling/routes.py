"""Day planning and nurse schedules: HTTP routes."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.scheduling import schemas, service

blp = Blueprint("scheduling", __name__, description="Day planning and nurse schedules")


@blp.route("/dispatch/plan")
class DispatchPlan(MethodView):
    @blp.auth("supervisor", "admin")
    # Unknown query fields are refused here (not ignored as on reads): a
    # mistyped ``reassign`` must not quietly plan the day another way.
    @blp.arguments(schemas.DayPlanCreateArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200, schemas.DayPlanSchema)
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
        return service.plan_day(session=db.session, actor=current_actor(), day=args["date"],
                                now=utcnow(), config=current_config(),
                                organization_id=args.get("organization_id"),
                                reassign=args["reassign"])

    @blp.auth("supervisor", "admin")
    @blp.arguments(schemas.DayPlanQueryArgsSchema, location="query")
    @blp.response(200, schemas.DayPlanSchema)
    @blp.problems(404)
    def get(self, args):
        """The day's latest plan: when it was made, by whom, and what it said"""
        return service.get_day_plan(session=db.session, actor=current_actor(),
                                    day=args["date"],
                                    organization_id=args.get("organization_id"))


@blp.route("/nurses/me/schedule")
class MySchedule(MethodView):
    @blp.auth("nurse")
    @blp.arguments(schemas.ScheduleQueryArgsSchema, location="query")
    @blp.response(200, schemas.NurseScheduleSchema)
    @blp.problems(404)
    def get(self, args):
        """The calling nurse's visits of the day in route order, with planned arrivals"""
        return service.nurse_schedule(session=db.session, actor=current_actor(), now=utcnow(),
                                      config=current_config(),
                                      day=args.get("date"))
