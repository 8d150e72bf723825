"""Service tests for the catalogue: the seed set, idempotent seeding, price changes."""

import json

import pytest
import sqlalchemy as sa

from homecare.catalogue import service
from homecare.catalogue.models import CATEGORIES, SKILLS, TITLES, ServiceItem
from homecare.clock import utcnow
from homecare.orders.models import Order
from tests.factories import booked_order


def test_seed_file_has_at_least_24_items_across_all_categories():
    items = service.load_seed_items()
    assert len(items) >= 24
    assert {i["category"] for i in items} == set(CATEGORIES)
    assert len({i["code"] for i in items}) == len(items)


def test_seed_items_are_complete_and_use_the_vocabulary():
    for item in service.load_seed_items():
        assert item["name_zh"] and item["name_en"]
        assert 30 <= item["duration_min"] <= 90
        assert item["required_skills"] and set(item["required_skills"]) <= set(SKILLS)
        assert item["min_title"] in TITLES
        assert isinstance(item["price_fen"], int) and item["price_fen"] > 0
        assert isinstance(item["requires_assessment"], bool)


def test_load_seed_items_refuses_unknown_skill(tmp_path):
    bad = tmp_path / "items.json"
    bad.write_text(json.dumps([{"code": "X_1", "required_skills": ["flying"]}]))
    with pytest.raises(ValueError, match="flying"):
        service.load_seed_items(bad)


def test_seed_catalogue_twice_adds_nothing_the_second_time(session, seeded):
    assert seeded == len(service.load_seed_items())
    assert service.seed_catalogue(session=session, now=utcnow()) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(ServiceItem)) == seeded


def test_seed_catalogue_keeps_an_admins_change(session, seeded):
    service.update_item(session=session, code="BASIC_VITALS",
                        changes={"price_fen": 12345, "active": False}, now=utcnow())
    service.seed_catalogue(session=session, now=utcnow())
    item = service.get_item(session=session, code="BASIC_VITALS")
    assert (item.price_fen, item.active) == (12345, False)


def test_seed_catalogue_restores_only_missing_codes(session, seeded):
    session.execute(sa.delete(ServiceItem).where(ServiceItem.code == "TCM_CUPPING"))
    assert service.seed_catalogue(session=session, now=utcnow()) == 1


def test_price_change_does_not_alter_orders_already_placed(session, org):
    order = booked_order(org)
    item = service.get_item(session=session, code=order.service_code)
    before = order.price_fen
    service.update_item(session=session, code=item.code,
                        changes={"price_fen": before + 5000, "duration_min": 90}, now=utcnow())
    session.expire_all()
    placed = session.get(Order, order.id)
    assert (placed.price_fen, placed.duration_min) == (before, order.duration_min)
    assert service.get_item(session=session, code=item.code).price_fen == before + 5000


def test_get_item_missing_raises(session):
    with pytest.raises(service.ServiceItemNotFound):
        service.get_item(session=session, code="NOPE")


def test_list_items_active_none_includes_retired(session):
    from tests.factories import ServiceItemFactory

    retired = ServiceItemFactory(active=False)
    codes = set(session.scalars(service.list_items(session=session, active=None)).all())
    assert retired in codes
