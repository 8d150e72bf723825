"""Published fees and price quotes: HTTP routes."""

from __future__ import annotations

from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.pricing import schemas, service

blp = Blueprint("pricing", __name__, description="Published fees and price quotes")


@blp.route("/services/<string:code>/quote")
class ServiceQuote(MethodView):
    @blp.auth("patient", "supervisor")
    @blp.arguments(schemas.QuoteQueryArgsSchema, location="query")
    @blp.response(200, schemas.QuoteSchema)
    @blp.problems(404, 422)
    def get(self, args, code):
        """The price before booking: item + travel fee by road distance + surcharges

        The travel fee comes from the serving organization's fee table: the base
        fee covers `included_km` of road distance from the institution, each
        further km costs `per_km_fen`, capped at `cap_fen`; a window starting in
        the night hours or on a listed holiday adds its surcharge. Booking now
        stores this breakdown on the order.
        """
        return service.quote(session=db.session, actor=current_actor(), code=code,
                             config=current_config(), **args)


@blp.route("/organizations/<int:organization_id>/fee-table")
class OrganizationFeeTable(MethodView):
    @blp.response(200, schemas.FeeTableSchema)
    @blp.problems(404)
    def get(self, organization_id):
        """The organization's published fees (public, 收费公示)"""
        return service.read_fee_table(session=db.session, organization_id=organization_id)

    @blp.auth("supervisor", "admin")
    @blp.arguments(schemas.FeeTableSchema)
    @blp.response(200, schemas.FeeTableSchema)
    @blp.problems(404, 422)
    def put(self, body, organization_id):
        """Publish the fee table: the supervisor her own organization's

        Placed orders keep the breakdown they were booked with.
        """
        return service.replace_fee_table(session=db.session, actor=current_actor(),
                                         organization_id=organization_id, data=body,
                                         now=utcnow())
