"""The one visibility rule (``auth.ensure_visible``), and that every ``access_<thing>``
getter decides through it."""

import ast
from pathlib import Path

import pytest

from homecare.auth import Actor, ensure_visible
from homecare.errors import NotFound

ORG, OTHER = 1, 2
ADMIN = Actor(1, "admin", None)
SUPERVISOR = Actor(2, "supervisor", ORG)
NURSE = Actor(3, "nurse", ORG)
FAMILY = Actor(4, "patient", None)


def _sees(actor, organization_id=ORG, **kwargs) -> bool:
    try:
        ensure_visible(actor, organization_id, NotFound, **kwargs)
    except NotFound:
        return False
    return True


@pytest.mark.parametrize("actor, organization_id, kwargs, seen", [
    (ADMIN, OTHER, {}, True),
    (SUPERVISOR, ORG, {}, True),
    (SUPERVISOR, OTHER, {}, False),
    (NURSE, ORG, {}, True),
    (NURSE, ORG, {"staff": ("admin", "supervisor")}, False),
    (ADMIN, ORG, {"staff": ("supervisor",)}, False),
    (FAMILY, ORG, {}, False),
    (FAMILY, ORG, {"parties": {"patient": FAMILY.user_id}}, True),
    (FAMILY, ORG, {"parties": {"patient": 99}}, False),
    # A party is one in its role: the same id under another role is not.
    (NURSE, OTHER, {"parties": {"patient": NURSE.user_id}}, False),
    (NURSE, OTHER, {"staff": (), "parties": {"nurse": NURSE.user_id}}, True),
    (NURSE, OTHER, {"parties": {"nurse": None}}, False),
    (SUPERVISOR, None, {}, False),
])
def test_ensure_visible_table(actor, organization_id, kwargs, seen):
    assert _sees(actor, organization_id, **kwargs) is seen


def test_every_access_getter_decides_through_ensure_visible():
    """A getter either calls ``ensure_visible`` or builds on another ``access_`` getter."""
    root = Path(__file__).resolve().parents[1] / "homecare"
    getters = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("access_"):
                called = {n.func.id if isinstance(n.func, ast.Name) else n.func.attr
                          for n in ast.walk(node) if isinstance(n, ast.Call)
                          and isinstance(n.func, ast.Name | ast.Attribute)}
                getters[f"{path.relative_to(root)}:{node.name}"] = called
    assert len(getters) >= 10
    astray = [name for name, called in getters.items()
              if "ensure_visible" not in called
              and not any(c.startswith("access_") for c in called)]
    assert astray == []
