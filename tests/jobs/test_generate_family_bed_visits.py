"""The nightly family-bed job: extends every open episode to the horizon, idempotently."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import sqlalchemy as sa

from homecare.family_beds import service
from homecare.orders.models import Order
from jobs import generate_family_bed_visits
from tests.factories import (
    AddressFactory,
    CareRecipientFactory,
    ServiceItemFactory,
    UserFactory,
    actor_of,
)
from tests.family_beds.helpers import NOW, TODAY, local, service_line

# The job's clock: 01:00 in Shanghai on the night after the episodes open.
NIGHT = local(TODAY + timedelta(days=1), 1)


def _open(session, org, config, **kwargs):
    supervisor = UserFactory(role="supervisor", organization_id=org.id)
    recipient = CareRecipientFactory()
    address = AddressFactory(patient_id=recipient.id, organization_id=org.id)
    item = ServiceItemFactory()
    session.commit()
    given = {"start_date": TODAY, "end_date": TODAY + timedelta(days=29),
             "plan": [service_line(item)], **kwargs}
    return service.open_family_bed(session=session, actor=actor_of(supervisor),
                                   patient_id=recipient.id, address_id=address.id,
                                   diagnosis="慢阻肺", now=NOW, config=config, **given)


def _dates(session, bed) -> list[date]:
    return list(session.scalars(sa.select(Order.service_date).where(
        Order.family_bed_id == bed["id"]).order_by(Order.service_date)))


def test_generate_family_bed_visits_extends_every_open_episode_by_a_day(app, session, org,
                                                                        config):
    beds = [_open(session, org, config), _open(session, org, config)]
    result = generate_family_bed_visits.run(app, NIGHT)
    assert result["family_beds"] == 2 and result["orders_created"] == 2
    for bed in beds:
        assert _dates(session, bed)[-1] == TODAY + timedelta(days=8)


def test_generate_family_bed_visits_twice_creates_nothing_new(app, session, org, config):
    bed = _open(session, org, config)
    generate_family_bed_visits.run(app, NIGHT)
    before = _dates(session, bed)
    again = generate_family_bed_visits.run(app, NIGHT)
    assert again.get("orders_created", 0) == 0
    assert _dates(session, bed) == before
    assert len(before) == len(set(before))


def test_generate_family_bed_visits_missed_nights_catch_up_in_one_run(app, session, org,
                                                                      config):
    bed = _open(session, org, config)
    result = generate_family_bed_visits.run(app, NIGHT + timedelta(days=3))
    assert result["orders_created"] == 4
    assert _dates(session, bed)[-1] == TODAY + timedelta(days=11)


def test_generate_family_bed_visits_leaves_closed_episodes_alone(app, session, org, config):
    bed = _open(session, org, config)
    closer = UserFactory(role="supervisor", organization_id=org.id)
    session.commit()
    service.close_family_bed(session=session, actor=actor_of(closer), family_bed_id=bed["id"],
                             reason="transferred", summary="转上级医院", now=NOW, config=config)
    assert generate_family_bed_visits.run(app, NIGHT).get("orders_created", 0) == 0
    assert _dates(session, bed)[-1] == TODAY + timedelta(days=7)


def test_generate_family_bed_visits_two_runs_at_once_create_each_visit_once(scratch_app):
    """Two schedulers' runs racing (committed data, real connections): the row lock and
    the slot key leave one order per slot."""
    from homecare.db import db
    from tests.factories import OrganizationFactory

    config = scratch_app.config["HOMECARE"]
    with scratch_app.app_context():
        bed = _open(db.session, OrganizationFactory(), config)
    start = threading.Barrier(2)

    def run(_):
        start.wait(30)
        return generate_family_bed_visits.run(scratch_app, NIGHT)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, range(2)))
    assert sum(r.get("orders_created", 0) for r in results) == 1
    with scratch_app.app_context():
        dates = _dates(db.session, bed)
    assert len(dates) == len(set(dates)) == 8
