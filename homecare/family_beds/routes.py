"""Family beds (家庭病床): HTTP routes."""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.family_beds import changes, record, schemas, service
from homecare.pagination import ViewPage

blp = Blueprint("family_beds", __name__,
                description="Family beds (家庭病床): episodes of care at home with a plan")


@blp.route("/family-beds")
class FamilyBeds(MethodView):
    @blp.auth("supervisor")
    @blp.arguments(schemas.FamilyBedCreateSchema)
    @blp.response(201, schemas.FamilyBedSchema)
    @blp.problems(409, 422)
    def post(self, body):
        """Open a family bed (建床); its visits are generated from the plan and dispatched.

        Opening is the assessment: generated visits are approved at once. Visits
        are generated `HOMECARE_FAMILY_BED_HORIZON_DAYS` ahead (and extended
        nightly). The first round (查床) is due within 24 h of the opening (the later
        of now and 00:00 local on `start_date`): the plan's earliest visit if its
        window opens by then, else an extra visit of the plan's first line in its
        next window. Weekdays are ISO (Monday = 1 ... Sunday = 7); windows are
        local times of day `HH:MM`.
        """
        return service.open_family_bed(session=db.session, actor=current_actor(), now=utcnow(),
                                       config=current_config(), **body)

    @blp.auth("patient", "supervisor", "admin")
    @blp.arguments(schemas.FamilyBedQueryArgsSchema, location="query")
    @blp.response(200, schemas.FamilyBedSchema(many=True))
    @blp.paginate(ViewPage)
    def get(self, args):
        """Family beds the caller may see: her recipients', her organization's"""
        return service.list_family_beds(session=db.session, actor=current_actor(),
                                        config=current_config(), **args)


@blp.route("/family-beds/<int:family_bed_id>")
class FamilyBedById(MethodView):
    @blp.auth("patient", "supervisor", "admin")
    @blp.response(200, schemas.FamilyBedSchema)
    @blp.problems(404)
    def get(self, family_bed_id):
        """One family bed with its plan and the visits generated so far"""
        return service.get_family_bed(session=db.session, actor=current_actor(),
                                      family_bed_id=family_bed_id, config=current_config())


    @blp.auth("supervisor")
    @blp.arguments(schemas.FamilyBedUpdateSchema)
    @blp.response(200, schemas.FamilyBedSchema)
    @blp.problems(404, 409, 422)
    def patch(self, body, family_bed_id):
        """Change an open episode's plan, end date or responsible nurse.

        Future generated visits follow: those that no longer fit are cancelled with
        notifications to the family and nurse, those that fit are kept (and belong
        to the new plan), missing ones are generated up to the horizon. A visit a
        nurse has accepted stays unless `reschedule_accepted` is true; visits under
        way or done are never touched. Every change is an event on the episode (see
        its record); `changes` lists the order ids cancelled, created and kept.
        """
        return changes.change_family_bed(session=db.session, actor=current_actor(),
                                         family_bed_id=family_bed_id, now=utcnow(),
                                         config=current_config(), **body)


@blp.route("/family-beds/<int:family_bed_id>/record")
class FamilyBedRecord(MethodView):
    @blp.auth("patient", "supervisor", "admin")
    @blp.response(200, schemas.FamilyBedRecordSchema)
    # Both media types spelled out: this doc replaces the response's content map.
    @blp.doc(responses={"200": {"description": "OK", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/FamilyBedRecord"}},
        "text/html": {"schema": {"type": "string",
                                 "description": "The record as a printable page"}}}}})
    @blp.problems(404)
    def get(self, family_bed_id):
        """The episode's record in time order: plans, visits with care records, alerts,
        changes and the close summary, for its supervisor or the recipient's owner
        (numbers masked for staff). With `Accept: text/html`, a printable page."""
        result = record.read_record(session=db.session, actor=current_actor(),
                                    family_bed_id=family_bed_id, now=utcnow(),
                                    config=current_config())
        if request.accept_mimetypes.best_match(["application/json", "text/html"]) \
                == "text/html":
            return Response(record.render_record_html(result, config=current_config()),
                            mimetype="text/html")
        return result


@blp.route("/family-beds/<int:family_bed_id>/close")
class FamilyBedClose(MethodView):
    @blp.auth("supervisor")
    @blp.arguments(schemas.FamilyBedCloseSchema)
    @blp.response(200, schemas.FamilyBedSchema)
    @blp.problems(404, 409)
    def post(self, body, family_bed_id):
        """Close a family bed (撤床) with a reason and a summary: visits not yet started are
        cancelled; `deceased` also calls back a nurse on her way and withholds every
        further message to the family about the episode's visits"""
        return service.close_family_bed(session=db.session, actor=current_actor(),
                                        family_bed_id=family_bed_id, now=utcnow(),
                                        config=current_config(), **body)
