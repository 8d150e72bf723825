"""The orders core's problems, shared by every use case that reads an order."""

from __future__ import annotations

from homecare.errors import NotFound, ValidationProblem


class OrderNotFound(NotFound):
    code, title = "order_not_found", "No such order"


class UnknownAddress(ValidationProblem):
    code, title = "unknown_address", "No such address for this care recipient"


class OutsideServiceArea(ValidationProblem):
    code, title = "outside_service_area", "No organization serves this address"
