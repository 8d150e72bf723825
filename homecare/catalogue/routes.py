"""The service catalogue: HTTP routes."""

from __future__ import annotations

from flask.views import MethodView

from homecare.api import Blueprint
from homecare.catalogue import schemas, service
from homecare.clock import utcnow
from homecare.db import db
from homecare.pagination import ListPage, QueryPage

blp = Blueprint("catalogue", __name__, description="The service catalogue")


@blp.route("/services")
class Services(MethodView):
    @blp.arguments(schemas.ServiceQueryArgsSchema, location="query")
    @blp.response(200, schemas.ServiceItemSchema(many=True))
    @blp.paginate(QueryPage, page_size=50)
    def get(self, args):
        """The catalogue (public): filter by category; retired items with active=false"""
        return service.list_items(session=db.session, **args)

    @blp.auth("admin")
    @blp.arguments(schemas.ServiceItemSchema)
    @blp.response(201, schemas.ServiceItemSchema)
    @blp.problems(409)
    def post(self, body):
        """Add a service item"""
        return service.create_item(session=db.session, data=body, now=utcnow())


@blp.route("/services/<string:code>")
class ServiceByCode(MethodView):
    @blp.response(200, schemas.ServiceItemSchema)
    @blp.problems(404)
    def get(self, code):
        """One service item (public), active or retired"""
        return service.get_item(session=db.session, code=code)

    @blp.auth("admin")
    @blp.arguments(schemas.ServiceItemUpdateSchema)
    @blp.response(200, schemas.ServiceItemSchema)
    @blp.problems(404)
    def patch(self, body, code):
        """Change a service item; orders already placed keep their price"""
        return service.update_item(session=db.session, code=code, changes=body, now=utcnow())


@blp.route("/skills")
class Skills(MethodView):
    @blp.response(200, schemas.SkillSchema(many=True))
    @blp.paginate(ListPage, page_size=100)
    def get(self):
        """The controlled skill vocabulary that items require and nurses hold (public)"""
        return service.list_skills()
