"""The orders core's problems, shared by every use case that reads an order."""

from __future__ import annotations

from homecare.errors import NotFound


class OrderNotFound(NotFound):
    code, title = "order_not_found", "No such order"
