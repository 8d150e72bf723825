"""Every route under /nurses: profiles, shifts, location pings, her schedule."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.nurses import schemas, service, unavailability
from homecare.pagination import ListPage
from homecare.scheduling import schemas as plan_schemas
from homecare.scheduling import service as planning

blp = Blueprint("nurses", __name__, description="Nurse profiles, shifts, location pings, schedules")



@blp.route("/nurses")
class Nurses(MethodView):
    @blp.auth("supervisor")
    @blp.arguments(schemas.NurseCreateSchema)
    @blp.response(201, schemas.NurseSchema)
    @blp.problems(404, 409)
    def post(self, body):
        """Create the dispatch profile of a nurse account (active needs the qualification)"""
        return service.create_nurse(session=db.session, actor=current_actor(), data=body,
                                    now=utcnow(), config=current_config())

    @blp.auth("supervisor")
    @blp.arguments(schemas.NurseQueryArgsSchema, location="query")
    @blp.response(200, schemas.NurseSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Search the organization's nurses by skill, distance from `near`, status"""
        views, total = service.search_nurses(
            session=db.session, actor=current_actor(), now=utcnow(), config=current_config(),
            page=pagination_parameters.page, page_size=pagination_parameters.page_size,
            **args)
        pagination_parameters.item_count = total
        return views


@blp.route("/nurses/<int:nurse_id>")
class NurseById(MethodView):
    @blp.auth("supervisor", "nurse")
    @blp.response(200, schemas.NurseSchema)
    @blp.problems(404)
    def get(self, nurse_id):
        """One nurse: her supervisor, or the nurse herself"""
        return service.read_nurse(session=db.session, actor=current_actor(),
                                  nurse_id=nurse_id, now=utcnow(), config=current_config())

    @blp.auth("supervisor", "nurse")
    @blp.arguments(schemas.NurseUpdateSchema)
    @blp.response(200, schemas.NurseSchema)
    @blp.problems(404)
    def patch(self, body, nurse_id):
        """Change a profile: the supervisor any field; the nurse her home, radius, daily cap"""
        return service.update_nurse(session=db.session, actor=current_actor(),
                                    nurse_id=nurse_id, changes=body, now=utcnow(),
                                    config=current_config())


@blp.route("/nurses/<int:nurse_id>/shifts")
class NurseShifts(MethodView):
    @blp.auth("supervisor", "nurse")
    @blp.arguments(schemas.ShiftQueryArgsSchema, location="query")
    @blp.response(200, schemas.ShiftSchema(many=True))
    @blp.paginate(ListPage, page_size=50)
    @blp.problems(404)
    def get(self, args, nurse_id):
        """A nurse's windows that have not ended (or in from/to)"""
        return service.list_nurse_shifts(session=db.session, actor=current_actor(),
                                         nurse_id=nurse_id, now=utcnow(), **args)


@blp.route("/nurses/me")
class MyNurseProfile(MethodView):
    @blp.auth("nurse")
    @blp.response(200, schemas.NurseSchema)
    @blp.problems(404)
    def get(self):
        """The calling nurse's own profile"""
        return service.read_nurse(session=db.session, actor=current_actor(), nurse_id=None,
                                  now=utcnow(), config=current_config())


@blp.route("/nurses/me/location")
class MyLocation(MethodView):
    @blp.auth("nurse")
    @blp.arguments(schemas.PingSchema)
    @blp.response(201, schemas.PingOutSchema)
    @blp.problems(404, 409, 429)
    def post(self, body):
        """A location ping, kept only on an active order or on shift; rate-limited per nurse"""
        ping = service.record_my_ping(session=db.session, actor=current_actor(), data=body,
                                      now=utcnow(), config=current_config())
        # Serialised by hand (the busiest route); PingOutSchema above documents it.
        return jsonify(schemas.ping_out(ping)), 201


@blp.route("/nurses/me/schedule")
class MySchedule(MethodView):
    @blp.auth("nurse")
    @blp.arguments(plan_schemas.ScheduleQueryArgsSchema, location="query")
    @blp.response(200, plan_schemas.NurseScheduleSchema)
    @blp.problems(404)
    def get(self, args):
        """The calling nurse's visits of the day in route order, with planned arrivals"""
        return planning.nurse_schedule(session=db.session, actor=current_actor(), now=utcnow(),
                                      config=current_config(),
                                      day=args.get("date"))


@blp.route("/nurses/me/shifts")
class MyShifts(MethodView):
    @blp.auth("nurse")
    @blp.arguments(schemas.ShiftsSchema)
    @blp.response(200, schemas.ShiftSchema(many=True))
    @blp.problems(404)
    def put(self, body):
        """Publish availability from now on: overlapping windows merge; a running window
        is kept only if sent with its start (else it ends now); others start now or later"""
        return service.replace_my_shifts(session=db.session, actor=current_actor(),
                                         windows=body["shifts"], now=utcnow())

    @blp.auth("nurse")
    @blp.arguments(schemas.ShiftQueryArgsSchema, location="query")
    @blp.response(200, schemas.ShiftSchema(many=True))
    @blp.paginate(ListPage, page_size=50)
    @blp.problems(404)
    def get(self, args):
        """The calling nurse's windows that have not ended (or in from/to)"""
        return service.list_nurse_shifts(session=db.session, actor=current_actor(),
                                         nurse_id=None, now=utcnow(), **args)


@blp.route("/nurses/<int:nurse_id>/unavailability")
class NurseUnavailability(MethodView):
    @blp.auth("supervisor", "nurse")
    @blp.arguments(schemas.UnavailabilitySchema)
    @blp.response(201, schemas.UnavailabilityOutSchema)
    @blp.problems(404, 422)
    def post(self, body, nurse_id):
        """The nurse is off from `from` to `until` (ill, an emergency).

        By a supervisor of her organization or the nurse herself. Her shifts in the
        span are removed or trimmed; her visits in the span she has not set off for go
        back to dispatch at once (re-offered without her, each family told); visits
        already under way stay and raise a `nurse_unavailable` alert.
        """
        return unavailability.mark_unavailable(session=db.session, actor=current_actor(),
                                               nurse_id=nurse_id, now=utcnow(),
                                               config=current_config(), **body)
