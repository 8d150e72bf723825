"""The responsible nurse first, then the nurse who served the episode last, then as
usual; and why a visit went to someone else. Routes on a controlled clock."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from homecare.dispatch.models import Offer
from homecare.orders.models import Order
from jobs import generate_family_bed_visits
from tests.factories import auth
from tests.family_beds.conftest import (
    API,
    TODAY,
    complete_visit,
    local,
    nurse_on_shift,
    post_bed,
    user_of,
)


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
    bed = post_bed(client, supervisor, fixed_body)
    today = _visit(bed, TODAY)
    assert bed["responsible_nurse_id"] == responsible.id
    assert (today["status"], _offered(session, today["order_id"])) == ("offered",
                                                                       [responsible.id])
    assert other.id not in _offered(session, today["order_id"])


def test_without_a_responsible_nurse_the_round_is_as_usual(client, session, clock, supervisor,
                                                           org, fixed_body):
    nurses = [nurse_on_shift(session, org, TODAY) for _ in range(2)]
    bed = post_bed(client, supervisor, fixed_body)
    assert sorted(_offered(session, _visit(bed, TODAY)["order_id"])) == sorted(
        n.id for n in nurses)


def test_declined_by_the_responsible_nurse_goes_to_the_others_and_says_why(
        client, session, clock, supervisor, org, fixed_body):
    other = nurse_on_shift(session, org, TODAY)
    responsible = nurse_on_shift(session, org, TODAY)
    fixed_body["responsible_nurse_id"] = responsible.id
    order_id = _visit(post_bed(client, supervisor, fixed_body), TODAY)["order_id"]
    r = client.post(f"{API}/offers/{_offer_of(session, order_id, responsible)}/decline",
                    json={"reason": "家中有事"}, headers=auth(user_of(session, responsible)))
    assert r.status_code == 200, r.get_json()
    assert _offered(session, order_id) == [responsible.id, other.id]
    r = client.post(f"{API}/offers/{_offer_of(session, order_id, other)}/accept",
                    headers=auth(user_of(session, other)))
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
    order_id = _visit(post_bed(client, supervisor, fixed_body), tomorrow)["order_id"]
    assert _offered(session, order_id) == [other.id]
    client.post(f"{API}/offers/{_offer_of(session, order_id, other)}/accept",
                headers=auth(user_of(session, other)))
    bed = client.get(f"{API}/family-beds/{_bed_of(session, order_id)}",
                     headers=auth(supervisor)).get_json()
    why = _visit(bed, tomorrow)["other_nurse"]
    assert (why["preferred_nurse_id"], why["reason"]) == (responsible.id, "not_eligible")
    assert why["detail"].startswith("shift")
    record = client.get(f"{API}/family-beds/{bed['id']}/record",
                        headers=auth(supervisor)).get_json()
    [visit] = [e["visit"] for e in record["entries"]
               if e["kind"] == "visit" and e["visit"]["order_id"] == order_id]
    assert visit["other_nurse"] == why


def test_the_nurse_who_served_the_episode_last_comes_before_the_others(
        app, client, session, clock, supervisor, org, fixed_body):
    last_day = TODAY + timedelta(days=8)
    served = nurse_on_shift(session, org, TODAY, last_day)
    other = nurse_on_shift(session, org, last_day)
    bed = post_bed(client, supervisor, fixed_body)
    today = session.get(Order, _visit(bed, TODAY)["order_id"])
    complete_visit(session, today, served)
    # The next night generates TODAY + 8: offered to her alone.
    new = _next_nights_visit(app, session, bed, last_day)
    assert _offered(session, new) == [served.id]
    assert other.id not in _offered(session, new)


def test_the_responsible_nurse_comes_before_the_one_who_served_last(
        app, client, session, clock, supervisor, org, fixed_body):
    last_day = TODAY + timedelta(days=8)
    served = nurse_on_shift(session, org, TODAY, last_day)
    responsible = nurse_on_shift(session, org, last_day)
    bed = post_bed(client, supervisor, fixed_body)
    complete_visit(session, session.get(Order, _visit(bed, TODAY)["order_id"]), served)
    client.patch(f"{API}/family-beds/{bed['id']}", json={"responsible_nurse_id": responsible.id},
                 headers=auth(supervisor))
    new = _next_nights_visit(app, session, bed, last_day)
    assert _offered(session, new) == [responsible.id]


def _bed_of(session, order_id) -> int:
    return session.get(Order, order_id).family_bed_id


def _next_nights_visit(app, session, bed, day) -> int:
    """Run the next night's job; the order it generated on ``day``."""
    generate_family_bed_visits.run(app, local(TODAY + timedelta(days=1), 1))
    return session.scalar(sa.select(Order.id).where(Order.family_bed_id == bed["id"],
                                                    Order.service_date == day))
