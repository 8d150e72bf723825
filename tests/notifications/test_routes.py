"""Route tests for the notifications inbox: GET /notifications, POST .../read."""

from __future__ import annotations

import json
from datetime import timedelta

from conftest import assert_problem
from homecare.clock import utcnow
from tests.factories import NotificationFactory, auth
from tests.helpers import API


def test_list_notifications_shows_own_newest_first(client, owner, nurse_user):
    old = NotificationFactory(user_id=owner.id, created_at=utcnow() - timedelta(hours=1))
    new = NotificationFactory(user_id=owner.id, kind="nurse_assigned",
                              payload={"nurse_name": "王护士"})
    NotificationFactory(user_id=nurse_user.id)
    r = client.get(f"{API}/notifications", headers=auth(owner))
    assert r.status_code == 200
    body = r.get_json()
    assert [n["id"] for n in body] == [new.id, old.id]
    assert body[0]["kind"] == "nurse_assigned" and body[0]["payload"]["nurse_name"] == "王护士"
    assert body[0]["read_at"] is None


def test_list_notifications_unread_only(client, owner):
    NotificationFactory(user_id=owner.id, read_at=utcnow())
    unread = NotificationFactory(user_id=owner.id)
    r = client.get(f"{API}/notifications?unread=true", headers=auth(owner))
    assert [n["id"] for n in r.get_json()] == [unread.id]


def test_list_notifications_is_paginated(client, owner):
    for _ in range(3):
        NotificationFactory(user_id=owner.id)
    r = client.get(f"{API}/notifications?page_size=2", headers=auth(owner))
    assert len(r.get_json()) == 2
    assert json.loads(r.headers["X-Pagination"])["total"] == 3


def test_list_notifications_without_token_is_401(client):
    assert_problem(client.get(f"{API}/notifications"), 401, "unauthorized")


def test_mark_read_is_200_with_read_time(client, owner):
    note = NotificationFactory(user_id=owner.id)
    r = client.post(f"{API}/notifications/{note.id}/read", headers=auth(owner))
    assert r.status_code == 200
    assert r.get_json()["read_at"] is not None
    r = client.get(f"{API}/notifications?unread=true", headers=auth(owner))
    assert r.get_json() == []


def test_mark_read_of_someone_elses_is_404(client, session, owner, nurse_user):
    note = NotificationFactory(user_id=owner.id)
    session.commit()
    r = client.post(f"{API}/notifications/{note.id}/read", headers=auth(nurse_user))
    assert_problem(r, 404, "notification_not_found")


def test_nurse_sees_cancellation_of_her_order_in_her_inbox(
        client, session, order, owner, nurse, nurse_user):
    from homecare.orders.states import transition

    transition(session, order, "assigned", actor=None, now=utcnow(), nurse_id=nurse.id)
    session.commit()
    r = client.post(f"{API}/orders/{order.id}/cancel", json={"reason": "改天"},
                    headers=auth(owner))
    assert r.status_code == 200
    kinds = [n["kind"] for n in client.get(f"{API}/notifications",
                                           headers=auth(nurse_user)).get_json()]
    assert kinds == ["order_cancelled", "order_assigned"]


def test_mark_read_with_id_beyond_any_row_is_404(client, owner):
    r = client.post(f"{API}/notifications/99999999999999999999/read", headers=auth(owner))
    assert_problem(r, 404)


def test_list_notifications_with_page_beyond_any_offset_is_empty(client, owner):
    NotificationFactory(user_id=owner.id)
    r = client.get(f"{API}/notifications?page=99999999999999999999", headers=auth(owner))
    assert (r.status_code, r.get_json()) == (200, [])
