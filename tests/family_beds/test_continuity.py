"""The responsible nurse first, then the nurse who served the episode last, then as
usual; and why a visit went to someone else. Routes on a controlled clock."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from homecare.dispatch.models import Offer
from homecare.orders.models import Order
from homecare.orders.states import transition
from jobs import generate_family_bed_visits
from tests.factories import auth
from tests.family_beds.conftest import API, TODAY, actor_of, local, nurse_on_shift


def _open(client, supervisor, body) -> dict:
    r = client.post(f"{API}/family-beds", json=body, headers=auth(supervisor))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _offered(session, order_id) -> list[int]:
    return list(session.scalars(sa.select(Offer.nurse_id).where(Offer.order_id == order_id)
                                .order_by(Offer.round, Offer.nurse_id)))


def _offer_of(session, order_id, nurse) -> int:
    return session.scalar(sa.select(Offer.id).where(Offer.order_id == order_id,
                                                    Offer.nurse_id == nurse.id))


def _visit(bed, day) -> dict:
    return next(v for v in bed["visits"] if v["service_date"] == day.isoformat())


def test_generated_visit_is_offered_to_the_responsible_nurse_alone(client, session, clock,
                                                                   supervisor, org, fixed_body):
    other = nurse_on_shift(session, org, TODAY)
    responsible = nurse_on_shift(session, org, TODAY)
    fixed_body["responsible_nurse_id"] = responsible.id
    bed = _open(client, supervisor, fixed_body)
    today = _visit(bed, TODAY)
    assert bed["responsible_nurse_id"] == responsible.id
    assert (today["status"], _offered(session, today["order_id"])) == ("offered",
                                                                       [responsible.id])
    assert other.id not in _offered(session, today["order_id"])


def test_without_a_responsible_nurse_the_round_is_as_usual(client, session, clock, supervisor,
                                                           org, fixed_body):
    nurses = [nurse_on_shift(session, org, TODAY) for _ in range(2)]
    bed = _open(client, supervisor, fixed_body)
    assert sorted(_offered(session, _visit(bed, TODAY)["order_id"])) == sorted(
        n.id for n in nurses)


def test_declined_by_the_responsible_nurse_goes_to_the_others_and_says_why(
        client, session, clock, supervisor, org, fixed_body):
    other = nurse_on_shift(session, org, TODAY)
    responsible = nurse_on_shift(session, org, TODAY)
    fixed_body["responsible_nurse_id"] = responsible.id
    order_id = _visit(_open(client, supervisor, fixed_body), TODAY)["order_id"]
    r = client.post(f"{API}/offers/{_offer_of(session, order_id, responsible)}/decline",
                    json={"reason": "家中有事"}, headers=auth(_user(session, responsible)))
    assert r.status_code == 200, r.get_json()
    assert _offered(session, order_id) == [responsible.id, other.id]
    r = client.post(f"{API}/offers/{_offer_of(session, order_id, other)}/accept",
                    headers=auth(_user(session, other)))
    assert r.status_code == 200, r.get_json()
    bed = client.get(f"{API}/family-beds/{_bed_of(session, order_id)}",
                     headers=auth(supervisor)).get_json()
    assert _visit(bed, TODAY)["other_nurse"] == {"preferred_nurse_id": responsible.id,
                                                 "reason": "declined", "detail": None}


def test_responsible_nurse_not_eligible_is_passed_over_with_the_rule(
        client, session, clock, supervisor, org, fixed_body):
    tomorrow = TODAY + timedelta(days=1)
    responsible = nurse_on_shift(session, org, TODAY)  # no shift tomorrow
    other = nurse_on_shift(session, org, TODAY, tomorrow)
    fixed_body["responsible_nurse_id"] = responsible.id
    order_id = _visit(_open(client, supervisor, fixed_body), tomorrow)["order_id"]
    assert _offered(session, order_id) == [other.id]
    client.post(f"{API}/offers/{_offer_of(session, order_id, other)}/accept",
                headers=auth(_user(session, other)))
    bed = client.get(f"{API}/family-beds/{_bed_of(session, order_id)}",
                     headers=auth(supervisor)).get_json()
    why = _visit(bed, tomorrow)["other_nurse"]
    assert (why["preferred_nurse_id"], why["reason"]) == (responsible.id, "not_eligible")
    assert why["detail"].startswith("shift")


def test_the_nurse_who_served_the_episode_last_comes_before_the_others(
        app, client, session, clock, supervisor, org, fixed_body):
    last_day = TODAY + timedelta(days=8)
    served = nurse_on_shift(session, org, TODAY, last_day)
    other = nurse_on_shift(session, org, last_day)
    bed = _open(client, supervisor, fixed_body)
    today = session.get(Order, _visit(bed, TODAY)["order_id"])
    _complete(session, today, served)
    # The next night generates TODAY + 8: offered to her alone.
    generate_family_bed_visits.run(app, local(TODAY + timedelta(days=1), 1))
    new = session.scalar(sa.select(Order.id).where(Order.family_bed_id == bed["id"],
                                                   Order.service_date == last_day))
    assert _offered(session, new) == [served.id]
    assert other.id not in _offered(session, new)


def test_the_responsible_nurse_comes_before_the_one_who_served_last(
        app, client, session, clock, supervisor, org, fixed_body):
    last_day = TODAY + timedelta(days=8)
    served = nurse_on_shift(session, org, TODAY, last_day)
    responsible = nurse_on_shift(session, org, last_day)
    bed = _open(client, supervisor, fixed_body)
    _complete(session, session.get(Order, _visit(bed, TODAY)["order_id"]), served)
    client.patch(f"{API}/family-beds/{bed['id']}", json={"responsible_nurse_id": responsible.id},
                 headers=auth(supervisor))
    generate_family_bed_visits.run(app, local(TODAY + timedelta(days=1), 1))
    new = session.scalar(sa.select(Order.id).where(Order.family_bed_id == bed["id"],
                                                   Order.service_date == last_day))
    assert _offered(session, new) == [responsible.id]


def _user(session, nurse):
    from homecare.accounts.models import User

    return session.get(User, nurse.user_id)


def _bed_of(session, order_id) -> int:
    return session.get(Order, order_id).family_bed_id


def _complete(session, order: Order, nurse) -> None:
    """She does the visit (withdrawing her offer first, as accepting does)."""
    session.execute(sa.update(Offer).where(Offer.order_id == order.id).values(status="withdrawn"))
    at = order.window_start
    transition(session, order, "assigned", actor=None, now=at, nurse_id=nurse.id)
    as_nurse = actor_of(_user(session, nurse))
    for status in ("en_route", "in_service"):
        transition(session, order, status, actor=as_nurse, now=at)
    transition(session, order, "completed", actor=as_nurse, now=at + timedelta(minutes=40),
               checked_out_at=at + timedelta(minutes=40))
    session.commit()
