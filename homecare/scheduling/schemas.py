"""Request and response shapes for day plans and nurses' schedules."""

from __future__ import annotations

import marshmallow as ma

from homecare.scheduling.models import REPAIR_STATES
from homecare.scheduling.planner import CAPACITY, NO_QUALIFIED_NURSE, WINDOW_UNREACHABLE
from homecare.scheduling.repair import REASON_KINDS
from homecare.scheduling.service import NURSE_DAY_CHANGED
from homecare.schemas import PlaceOutFields, RowId


class DayPlanQueryArgsSchema(ma.Schema):
    date = ma.fields.Date(required=True, metadata={
        "description": "The local day (service area's zone), YYYY-MM-DD"})
    organization_id = RowId(metadata={
        "description": "Admins name the organization; supervisors plan their own"})


class DayPlanCreateArgsSchema(DayPlanQueryArgsSchema):
    date = ma.fields.Date(required=True, metadata={
        "description": "The local day (service area's zone), YYYY-MM-DD: today up to the "
                       "booking horizon (HOMECARE_BOOKING_HORIZON_DAYS) ahead"})
    reassign = ma.fields.Boolean(load_default=False, metadata={
        "description": "Full re-plan: orders nurses accepted may move to other nurses"})


class PlannedStopSchema(ma.Schema):
    order_id = ma.fields.Integer()
    position = ma.fields.Integer(metadata={"description": "Route position, 1 = first"})
    planned_arrival = ma.fields.DateTime(metadata={
        "description": "When she is planned at the door and begins (inside the window)"})
    start = ma.fields.DateTime(metadata={"description": "Planned start of the service"})
    end = ma.fields.DateTime(metadata={"description": "Planned end of the service"})
    window_start = ma.fields.DateTime()
    window_end = ma.fields.DateTime()
    service_code = ma.fields.String()


class PlannedRouteSchema(ma.Schema):
    nurse_id = ma.fields.Integer()
    nurse_name = ma.fields.String()
    travel_min = ma.fields.Float(metadata={
        "description": "Travel to her visits; the way home after the last is her own time"})
    distance_km = ma.fields.Float()
    fixed_order_ids = ma.fields.List(ma.fields.Integer(), metadata={
        "description": "Her visits under way or done today; the stops follow them"})
    stops = ma.fields.List(ma.fields.Nested(PlannedStopSchema))


class UnplannedOrderSchema(ma.Schema):
    order_id = ma.fields.Integer()
    reason = ma.fields.String(metadata={
        "description": "Why no nurse could take it; or nurse_day_changed: the nurse "
                       "it was planned for accepted or was given another visit while the "
                       "day was being planned, so nothing of hers was changed (plan again)",
        "enum": [NO_QUALIFIED_NURSE, WINDOW_UNREACHABLE, CAPACITY, NURSE_DAY_CHANGED]})


class SkippedOrderSchema(ma.Schema):
    order_id = ma.fields.Integer()
    status = ma.fields.String(allow_none=True, metadata={
        "description": "Its status now: it changed while the day was being planned"})


class DayPlanStatsSchema(ma.Schema):
    orders = ma.fields.Integer()
    planned = ma.fields.Integer()
    unplanned = ma.fields.Integer()
    skipped = ma.fields.Integer()
    assigned = ma.fields.Integer(metadata={"description": "Orders given a nurse by this plan"})
    reassigned = ma.fields.Integer(metadata={"description": "Orders moved to another nurse"})
    nurses = ma.fields.Integer(metadata={"description": "Qualified nurses with time that day"})
    nurses_used = ma.fields.Integer()
    travel_min = ma.fields.Float()
    distance_km = ma.fields.Float()
    iterations = ma.fields.Integer()
    solve_s = ma.fields.Float()


class DayPlanSchema(ma.Schema):
    id = ma.fields.Integer()
    date = ma.fields.Date()
    organization_id = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    created_by = ma.fields.Integer(allow_none=True, metadata={
        "description": "The planning user; null when the service planned (morning job)"})
    reassign = ma.fields.Boolean()
    seed = ma.fields.Integer()
    routes = ma.fields.List(ma.fields.Nested(PlannedRouteSchema))
    unplanned = ma.fields.List(ma.fields.Nested(UnplannedOrderSchema))
    skipped = ma.fields.List(ma.fields.Nested(SkippedOrderSchema))
    stats = ma.fields.Nested(DayPlanStatsSchema)


class ScheduleQueryArgsSchema(ma.Schema):
    date = ma.fields.Date(metadata={"description": "Local day, YYYY-MM-DD; default today"})


class ScheduledVisitSchema(PlaceOutFields):
    order_id = ma.fields.Integer()
    status = ma.fields.String()
    route_position = ma.fields.Integer(allow_none=True)
    planned_arrival = ma.fields.DateTime(allow_none=True)
    window_start = ma.fields.DateTime()
    window_end = ma.fields.DateTime()
    duration_min = ma.fields.Integer()
    service_code = ma.fields.String()
    service_name_zh = ma.fields.String()
    service_name_en = ma.fields.String()
    recipient_name = ma.fields.String()
    address_text = ma.fields.String()
    district = ma.fields.String(allow_none=True)
    notes = ma.fields.String(allow_none=True)


class NurseScheduleSchema(ma.Schema):
    date = ma.fields.Date()
    nurse_id = ma.fields.Integer()
    plan_created_at = ma.fields.DateTime(allow_none=True, metadata={
        "description": "When the day was last planned; null if it has not been"})
    visits = ma.fields.List(ma.fields.Nested(ScheduledVisitSchema))


class RepairReasonSchema(ma.Schema):
    kind = ma.fields.String(metadata={"enum": list(REASON_KINDS), "description": (
        "What changed: order_added (approved), order_cancelled (cancelled or expired), "
        "unassigned (taken back from its nurse), no_show, nurse_unavailable, overrun "
        "(in service past its planned end)")})
    order_id = ma.fields.Integer()
    nurse_id = ma.fields.Integer()


_ARRIVAL = {"format": "date-time"}
_WHY = {"description": "The change that names the order or its nurse (a repair reason's "
                       "kind), else why the repair moved it"}


class RepairMovedSchema(ma.Schema):
    order_id = ma.fields.Integer()
    from_nurse_id = ma.fields.Integer()
    to_nurse_id = ma.fields.Integer()
    old_arrival = ma.fields.String(allow_none=True, metadata=_ARRIVAL)
    new_arrival = ma.fields.String(allow_none=True, metadata=_ARRIVAL)
    reason = ma.fields.String(metadata=_WHY)
    detail = ma.fields.String(allow_none=True)


class RepairAddedSchema(ma.Schema):
    order_id = ma.fields.Integer()
    to_nurse_id = ma.fields.Integer()
    new_arrival = ma.fields.String(allow_none=True, metadata=_ARRIVAL)
    reason = ma.fields.String(metadata=_WHY)


class RepairDroppedSchema(ma.Schema):
    order_id = ma.fields.Integer()
    from_nurse_id = ma.fields.Integer(allow_none=True)
    reason = ma.fields.String(metadata=_WHY)
    detail = ma.fields.String(allow_none=True)


class RepairRetimedSchema(ma.Schema):
    order_id = ma.fields.Integer()
    nurse_id = ma.fields.Integer()
    old_arrival = ma.fields.String(allow_none=True, metadata=_ARRIVAL)
    new_arrival = ma.fields.String(allow_none=True, metadata=_ARRIVAL)
    reason = ma.fields.String(metadata=_WHY)
    detail = ma.fields.String(allow_none=True, metadata={
        "description": "Why her route could not keep it where it was (late, shift, cap, "
                       "...), if it could not"})


class RepairStrandedSchema(ma.Schema):
    order_id = ma.fields.Integer()
    nurse_id = ma.fields.Integer()
    planned_arrival = ma.fields.String(allow_none=True, metadata=_ARRIVAL)
    reason = ma.fields.String(metadata=_WHY)
    detail = ma.fields.String(metadata={"description": "frozen_past_shift"})


class RepairDiffSchema(ma.Schema):
    moved = ma.fields.List(ma.fields.Nested(RepairMovedSchema), metadata={
        "description": "Orders now with another nurse"})
    added = ma.fields.List(ma.fields.Nested(RepairAddedSchema), metadata={
        "description": "Orders on a route that were on none"})
    dropped = ma.fields.List(ma.fields.Nested(RepairDroppedSchema), metadata={
        "description": "Orders no longer on any route (cancelled, no room, ...)"})
    retimed = ma.fields.List(ma.fields.Nested(RepairRetimedSchema), metadata={
        "description": "Orders kept by their nurse at another planned arrival"})
    stranded = ma.fields.List(ma.fields.Nested(RepairStrandedSchema), metadata={
        "description": "Orders inside the freeze horizon their nurse can no longer hold "
                       "(the visit she is on runs past her shift): left as they were, "
                       "the supervisor's call"})


class DayRepairSchema(ma.Schema):
    id = ma.fields.Integer()
    date = ma.fields.Date()
    state = ma.fields.String(metadata={"enum": list(REPAIR_STATES), "description": (
        "pending (waiting for more changes, HOMECARE_REPAIR_DEBOUNCE_SECONDS), running, "
        "done, failed (given up after HOMECARE_REPAIR_MAX_ATTEMPTS, or retried as a "
        "newer repair of the day: see error)")})
    reasons = ma.fields.List(ma.fields.Nested(RepairReasonSchema), metadata={
        "description": "The changes this repair answers, in the order they came"})
    first_change_at = ma.fields.DateTime()
    last_change_at = ma.fields.DateTime()
    due_at = ma.fields.DateTime(metadata={"description": "When the jobs process runs it"})
    started_at = ma.fields.DateTime(allow_none=True)
    finished_at = ma.fields.DateTime(allow_none=True)
    attempts = ma.fields.Integer()
    error = ma.fields.String(allow_none=True, metadata={
        "description": "Why the last attempt failed, or why a finished one changed nothing"})
    day_plan_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "The day plan the repair recorded (GET /dispatch/plan shows the "
                       "latest)"})
    diff = ma.fields.Nested(RepairDiffSchema, allow_none=True, metadata={
        "description": "What the repair changed, with reasons; null until it is done"})
    stats = ma.fields.Dict(allow_none=True, metadata={
        "description": "The repaired plan's figures (as the day plan's stats)"})
