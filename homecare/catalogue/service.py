"""The service catalogue: seed, list, add and change items; the skill vocabulary."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.catalogue.models import SKILLS, ServiceItem
from homecare.db import atomic
from homecare.errors import Conflict, NotFound

SEED_FILE = Path(__file__).with_name("items.json")


class ServiceItemNotFound(NotFound):
    code, title = "service_item_not_found", "No such service item"


class ServiceCodeTaken(Conflict):
    code, title = "service_code_taken", "A service item with this code exists"


def list_skills() -> list[dict[str, str]]:
    """The controlled skill vocabulary, in its fixed order."""
    return [{"code": code, "name_zh": zh, "name_en": en} for code, (zh, en) in SKILLS.items()]


def list_items(*, session: Session, category: str | None = None, active: bool | None = True
               ) -> sa.Select:
    """Catalogue items by category then code; ``active`` None lists retired ones too."""
    stmt = sa.select(ServiceItem).order_by(ServiceItem.category, ServiceItem.code)
    if category is not None:
        stmt = stmt.where(ServiceItem.category == category)
    if active is not None:
        stmt = stmt.where(ServiceItem.active.is_(active))
    return stmt


def get_item(*, session: Session, code: str) -> ServiceItem:
    """One item, active or retired.

    :raises ServiceItemNotFound: no item has this code.
    """
    item = session.get(ServiceItem, code)
    if item is None:
        raise ServiceItemNotFound(f"no service item {code}", service_code=code)
    return item


@atomic
def create_item(*, session: Session, data: dict[str, Any], now: datetime) -> ServiceItem:
    """Add an item to the catalogue (admin).

    :raises ServiceCodeTaken: the code is in use (codes are never reused: old orders name them).
    """
    if session.get(ServiceItem, data["code"]) is not None:
        raise ServiceCodeTaken(service_code=data["code"])
    item = ServiceItem(**data, created_at=now, updated_at=now)
    session.add(item)
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:  # a concurrent create won the race
        raise ServiceCodeTaken(service_code=data["code"]) from exc
    session.commit()
    return item


@atomic
def update_item(*, session: Session, code: str, changes: dict[str, Any], now: datetime
                ) -> ServiceItem:
    """Change an item (admin). Orders keep the price and duration they were booked with.

    :raises ServiceItemNotFound: no item has this code.
    """
    item = get_item(session=session, code=code)
    for name, value in changes.items():
        setattr(item, name, value)
    item.updated_at = now
    session.commit()
    return item


def load_seed_items(path: Path = SEED_FILE) -> list[dict[str, Any]]:
    """The packaged seed catalogue, checked against the vocabulary."""
    items = json.loads(path.read_text(encoding="utf-8"))
    for item in items:
        unknown = set(item["required_skills"]) - set(SKILLS)
        if unknown:
            raise ValueError(f"{item['code']}: unknown skills {sorted(unknown)}")
    return items


@atomic
def seed_catalogue(*, session: Session, now: datetime) -> int:
    """Insert the seed items whose code is missing; returns how many were added.

    Existing codes are left alone, so an admin's price or name change survives
    every later ``homecare db upgrade``.
    """
    existing = set(session.scalars(sa.select(ServiceItem.code)))
    added = 0
    for data in load_seed_items():
        if data["code"] in existing:
            continue
        session.add(ServiceItem(**data, active=True, created_at=now, updated_at=now))
        added += 1
    session.commit()
    return added
