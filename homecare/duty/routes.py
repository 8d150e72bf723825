"""The supervisors' duty roster: HTTP routes."""

from __future__ import annotations

from flask.views import MethodView

from homecare.api import Blueprint
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.duty import schemas, service
from homecare.pagination import ListPage

blp = Blueprint("duty", __name__,
                description="The supervisors' duty roster: who is paged by SMS, when")


@blp.route("/duty-roster")
class DutyRoster(MethodView):
    @blp.auth("supervisor")
    @blp.arguments(schemas.DutyQueryArgsSchema, location="query")
    @blp.response(200, schemas.DutySpanSchema(many=True))
    @blp.paginate(ListPage, page_size=50)
    def get(self, args):
        """The organization's duty spans overlapping from/to (default: the coming week)"""
        return service.list_duty(session=db.session, actor=current_actor(), now=utcnow(),
                                 **args)

    @blp.auth("supervisor")
    @blp.arguments(schemas.DutySpansAddSchema)
    @blp.response(201, schemas.DutySpanSchema(many=True))
    @blp.problems(409)
    def post(self, body):
        """Put supervisors on duty: all the spans or none; urgent pages then text only
        the supervisors on duty (everyone when nobody is)"""
        return service.add_duty_spans(session=db.session, actor=current_actor(),
                                      spans=body["spans"], now=utcnow())

    @blp.auth("supervisor")
    @blp.arguments(schemas.DutyReplaceSchema)
    @blp.response(200, schemas.DutySpanSchema(many=True))
    @blp.problems(409)
    def put(self, body):
        """Replace the roster of from/to: its spans that have not started give way to
        these; spans that started are history and stay. Returns the window's roster"""
        return service.replace_duty_spans(session=db.session, actor=current_actor(),
                                          now=utcnow(), **body)


@blp.route("/duty-roster/<int:span_id>")
class DutySpanById(MethodView):
    @blp.auth("supervisor")
    @blp.response(204)
    @blp.problems(404, 409)
    def delete(self, span_id):
        """Take a span off the roster; a running one ends now; an ended one is history (409)"""
        service.remove_duty_span(session=db.session, actor=current_actor(), span_id=span_id,
                                 now=utcnow())
