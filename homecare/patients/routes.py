"""Care recipients and their addresses: HTTP routes."""

from __future__ import annotations

from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.pagination import ListPage
from homecare.patients import schemas, service

blp = Blueprint("patients", __name__, description="Care recipients and their addresses")



@blp.route("/patients")
class Patients(MethodView):
    @blp.auth("patient")
    @blp.arguments(schemas.RecipientCreateSchema)
    @blp.response(201, schemas.RecipientSchema)
    @blp.problems(409)
    def post(self, body):
        """Add a care recipient (consent required; guardian consent under 14)"""
        return service.create_recipient(session=db.session, actor=current_actor(), data=body,
                                        now=utcnow(), config=current_config())

    @blp.auth("patient", "supervisor", "admin")
    @blp.response(200, schemas.RecipientSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """Care recipients: the caller's own, or those her organization serves (masked)"""
        views, total = service.list_recipients(
            session=db.session, actor=current_actor(), now=utcnow(), config=current_config(),
            page=pagination_parameters.page, page_size=pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return views


@blp.route("/patients/<int:patient_id>")
class PatientById(MethodView):
    @blp.auth("patient", "supervisor", "admin")
    @blp.response(200, schemas.RecipientSchema)
    @blp.problems(404)
    def get(self, patient_id):
        """One care recipient with addresses; numbers masked for all but the owner"""
        return service.read_recipient(session=db.session, actor=current_actor(),
                                      patient_id=patient_id, now=utcnow(), config=current_config())

    @blp.auth("patient", "supervisor")
    @blp.arguments(schemas.RecipientUpdateSchema)
    @blp.response(200, schemas.RecipientSchema)
    @blp.problems(404, 409)
    def patch(self, body, patient_id):
        """Change a care recipient: the owner any field, a supervisor the clinical ones"""
        return service.update_recipient(session=db.session, actor=current_actor(),
                                        patient_id=patient_id, changes=body, now=utcnow(),
                                        config=current_config())


@blp.route("/patients/<int:patient_id>/addresses")
class PatientAddresses(MethodView):
    @blp.auth("patient")
    @blp.arguments(schemas.AddressCreateSchema)
    @blp.response(201, schemas.AddressSchema)
    @blp.problems(404)
    def post(self, body, patient_id):
        """Add an address (wgs84, gcj02 or bd09 in; stored WGS-84; flagged if unserved)"""
        return service.add_address(session=db.session, actor=current_actor(),
                                   patient_id=patient_id, data=body, now=utcnow())

    @blp.auth("patient", "supervisor", "admin")
    @blp.response(200, schemas.AddressSchema(many=True))
    @blp.paginate(ListPage, page_size=50)
    @blp.problems(404)
    def get(self, patient_id):
        """A care recipient's addresses (owner; a supervisor of a serving organization)"""
        return service.list_addresses(session=db.session, actor=current_actor(),
                                      patient_id=patient_id, now=utcnow())
