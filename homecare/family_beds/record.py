"""Family beds (家庭病床): the episode's record, in time order, as data and as a printable page.

What a regulator or the next hospital reads: the care recipient (numbers masked
for all but the owner, as everywhere), the episode, every plan it had, every
visit with its care record (vitals, procedures, notes), the alerts about it, its
changes and its close summary. Staff reads go on the audit trail (PIPL).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import jinja2
import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.auth import Actor
from homecare.config import Config
from homecare.db import atomic
from homecare.family_beds.models import (
    FamilyBed,
    FamilyBedEvent,
    FamilyBedPlanLine,
    FamilyBedVisit,
)
from homecare.family_beds.service import FamilyBedNotFound, _view, _visible, plan_snapshot
from homecare.orders.models import Order

# Entries at the same moment keep the episode's own order: opened, plan, ... closed.
_RANK = {"opened": 0, "plan": 1, "event": 2, "visit": 3, "alert": 4, "closed": 5}
# Events shown as entries of their own (opened, plan, closed) are not repeated.
_OWN_ENTRIES = ("opened", "plan_changed", "closed")


@atomic
def read_record(*, session: Session, actor: Actor, family_bed_id: int, now: datetime,
                config: Config) -> dict[str, Any]:
    """The episode's record (``FamilyBedRecordSchema``) for its organization's
    supervisor or the recipient's owner; the read is logged for staff. Commits
    (the audit entry).

    :raises FamilyBedNotFound: (404) no such episode, or not the caller's to see.
    """
    from homecare.patients.service import record_recipient_reads

    bed = session.scalar(_visible(actor).where(FamilyBed.id == family_bed_id)
                         .execution_options(populate_existing=True))
    if bed is None:
        raise FamilyBedNotFound(family_bed_id=family_bed_id)
    result = {"family_bed": _view(session=session, bed=bed, config=config),
              "responsible_nurse_name": _nurse_name(session, bed.responsible_nurse_id),
              "patient": _patient(session, bed, actor, config),
              "entries": _entries(session, bed), "generated_at": now}
    result["vitals"] = [{"at": e["at"], "order_id": e["visit"]["order_id"],
                         "vitals": e["visit"]["care_record"]["vitals"]}
                        for e in result["entries"]
                        if e["kind"] == "visit" and e["visit"]["care_record"]
                        and e["visit"]["care_record"]["vitals"]]
    record_recipient_reads(session, actor=actor, patient_ids=[bed.patient_id], now=now,
                           part="family_bed_record", detail={"family_bed_id": bed.id})
    session.commit()
    return result


def _nurse_name(session: Session, nurse_id: int | None) -> str | None:
    from homecare.accounts.models import User
    from homecare.nurses.models import Nurse

    if nurse_id is None:
        return None
    return session.scalar(sa.select(User.name).join(Nurse, Nurse.user_id == User.id)
                          .where(Nurse.id == nurse_id))


def _patient(session: Session, bed: FamilyBed, actor: Actor, config: Config) -> dict[str, Any]:
    from homecare.patients.models import Address, CareRecipient
    from homecare.patients.service import decrypt_id_number
    from homecare.schemas import mask_id_number, mask_phone

    recipient = session.get(CareRecipient, bed.patient_id)
    address = session.get(Address, bed.address_id)
    owner = actor.role == "patient" and recipient.owner_id == actor.user_id
    id_number = decrypt_id_number(config=config, recipient=recipient)
    return {"id": recipient.id, "name": recipient.name, "gender": recipient.gender,
            "birth_date": recipient.birth_date, "masked": not owner,
            "id_number": id_number if owner else mask_id_number(id_number),
            "phone": recipient.phone if owner else mask_phone(recipient.phone),
            "address": address.text if address is not None else None}


def _entries(session: Session, bed: FamilyBed) -> list[dict[str, Any]]:
    entries = [{"at": bed.opened_at, "kind": "opened", "data": {
        "opened_by": bed.opened_by, "diagnosis": bed.diagnosis,
        "start_date": bed.start_date.isoformat(), "end_date": bed.end_date.isoformat()}}]
    events = session.scalars(sa.select(FamilyBedEvent).where(
        FamilyBedEvent.family_bed_id == bed.id).order_by(FamilyBedEvent.at,
                                                         FamilyBedEvent.id)).all()
    changed_at = {e.detail.get("plan_version"): e.at for e in events if e.kind == "plan_changed"}
    lines = session.scalars(sa.select(FamilyBedPlanLine).where(
        FamilyBedPlanLine.family_bed_id == bed.id)
        .order_by(FamilyBedPlanLine.plan_version, FamilyBedPlanLine.line_no)).all()
    for version in sorted({line.plan_version for line in lines}):
        entries.append({"at": changed_at.get(version, bed.opened_at), "kind": "plan",
                        "data": {"plan_version": version, "plan": plan_snapshot(
                            [line for line in lines if line.plan_version == version])}})
    entries += [{"at": e.at, "kind": "event",
                 "data": {"event": e.kind, "actor_id": e.actor_id, **e.detail}}
                for e in events if e.kind not in _OWN_ENTRIES]
    entries += _visit_entries(session, bed)
    entries += _alert_entries(session, bed)
    if bed.closed_at is not None:
        closing = next((e for e in events if e.kind == "closed"), None)
        entries.append({"at": bed.closed_at, "kind": "closed", "data": {
            "closed_by": bed.closed_by, "reason": bed.close_reason, "summary": bed.summary,
            **({"cancelled_order_ids": closing.detail.get("cancelled_order_ids", [])}
               if closing is not None else {})}})
    entries.sort(key=lambda e: (e["at"], _RANK[e["kind"]]))
    return entries


def _visit_entries(session: Session, bed: FamilyBed) -> list[dict[str, Any]]:
    from homecare.accounts.models import User
    from homecare.nurses.models import Nurse
    from homecare.visits.models import CareRecord

    rows = session.execute(
        sa.select(FamilyBedVisit, Order, CareRecord, User.name)
        .join(Order, Order.id == FamilyBedVisit.order_id)
        .outerjoin(CareRecord, CareRecord.order_id == Order.id)
        .outerjoin(Nurse, Nurse.id == Order.nurse_id)
        .outerjoin(User, User.id == Nurse.user_id)
        .where(FamilyBedVisit.family_bed_id == bed.id)
        .order_by(Order.window_start, Order.id)).all()
    from homecare.family_beds.continuity import elsewhere

    other = elsewhere(session, bed, [order for _visit, order, *_ in rows])
    entries = []
    for visit, order, care, nurse_name in rows:
        # A visit stands at its window; one cancelled before it, when it was cancelled,
        # so that nothing after the close seems to have happened.
        at = order.window_start
        if order.status == "cancelled" and order.updated_at < at:
            at = order.updated_at
        entries.append({"at": at, "kind": "visit", "visit": {
            "order_id": order.id, "service_code": order.service_code,
            "service_date": visit.service_date, "window_start": order.window_start,
            "window_end": order.window_end, "status": order.status,
            "status_reason": order.status_reason, "first_round": visit.first_round,
            "withdrawn": visit.withdrawn, "nurse_id": order.nurse_id, "nurse_name": nurse_name,
            "checked_in_at": order.checked_in_at, "checked_out_at": order.checked_out_at,
            "other_nurse": other.get(order.id),
            "care_record": None if care is None else {
                "vitals": care.vitals or {}, "procedures": care.procedures or [],
                "notes": care.notes, "recorded_at": care.recorded_at}}})
    return entries


def _alert_entries(session: Session, bed: FamilyBed) -> list[dict[str, Any]]:
    from homecare.alerts.models import Alert

    alerts = session.scalars(sa.select(Alert).where(sa.or_(
        Alert.family_bed_id == bed.id,
        Alert.order_id.in_(sa.select(Order.id).where(Order.family_bed_id == bed.id))))
        .order_by(Alert.raised_at, Alert.id)).all()
    return [{"at": a.raised_at, "kind": "alert", "alert": {
        "alert_id": a.id, "kind": a.kind, "severity": a.severity, "status": a.status,
        "order_id": a.order_id, "detail": a.detail, "resolved_at": a.resolved_at}}
        for a in alerts]


# ---------------------------------------------------------------- the printable page


@functools.cache
def _templates() -> jinja2.Environment:
    # Autoescape on for every template: diagnosis, notes and summaries are free text
    # typed by people, and must print as text, never run as markup.
    env = jinja2.Environment(loader=jinja2.PackageLoader("homecare.family_beds", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["local"] = _local
    return env


def _local(value: Any, zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    from zoneinfo import ZoneInfo

    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(zone)).strftime(fmt)
    return str(value)


def render_record_html(record: dict[str, Any], *, config: Config) -> str:
    """The record as a self-contained printable HTML page (no script, no outside asset)."""
    return _templates().get_template("record.html").render(record=record, zone=config.timezone)
