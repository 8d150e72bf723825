"""Every transition in ``orders.states.TRANSITIONS`` has a caller in ``homecare/``.

A static check over the source. The target status is the third argument of every
``transition(session, order, "<status>", ...)`` call, always a literal, so the
check finds it. The from-side of a pair is the order's status at run time, which
no static check sees: ``CALLERS`` names, per pair, the functions whose guards let
an order in that status reach their call, and the test proves each of them does
call ``transition`` with the pair's target. A new pair must name its caller here;
a caller that goes away fails the test.
"""

import ast
from pathlib import Path

from homecare.orders.states import TRANSITIONS

ROOT = Path(__file__).resolve().parents[2] / "homecare"

CANCEL = ("orders/service.py", "apply_cancellation")
CALLERS = {
    ("submitted", "approved"): [("orders/service.py", "approve_order"),
                                ("orders/service.py", "_book"),  # auto-approval
                                ("family_beds/service.py", "_open_visit")],
    ("submitted", "rejected"): [("orders/service.py", "reject_order")],
    ("submitted", "cancelled"): [CANCEL],
    ("approved", "offered"): [("dispatch/rounds.py", "first_round")],
    ("approved", "assigned"): [("dispatch/service.py", "assign_nurse"),
                               ("scheduling/service.py", "_place")],
    ("approved", "cancelled"): [CANCEL],
    ("approved", "expired"): [("dispatch/service.py", "expire_offers")],
    ("offered", "approved"): [("dispatch/rounds.py", "stop_offering")],
    ("offered", "assigned"): [("dispatch/offers.py", "accept_offer"),
                              ("dispatch/service.py", "assign_nurse"),
                              ("scheduling/service.py", "_place")],
    ("offered", "cancelled"): [CANCEL],
    ("offered", "expired"): [("dispatch/service.py", "expire_offers")],
    ("assigned", "assigned"): [("dispatch/service.py", "assign_nurse"),
                               ("scheduling/service.py", "_place")],
    ("assigned", "approved"): [("dispatch/handback.py", "return_to_dispatch"),
                               ("scheduling/repair.py", "_back_to_dispatch")],
    ("assigned", "en_route"): [("visits/service.py", "depart"),
                               ("visits/service.py", "set_off_if_assigned")],
    ("assigned", "cancelled"): [CANCEL],
    ("assigned", "no_show"): [("visits/no_show.py", "report_no_show")],
    ("en_route", "in_service"): [("visits/service.py", "check_in")],
    ("en_route", "cancelled"): [CANCEL],
    ("en_route", "no_show"): [("visits/no_show.py", "report_no_show")],
    ("in_service", "completed"): [("visits/service.py", "check_out")],
    ("in_service", "cancelled"): [CANCEL],
}


def _targets_by_function() -> dict[tuple[str, str], set[str]]:
    """(file, function) -> the statuses it asks ``transition`` for."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        for fn in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(fn, ast.FunctionDef):
                continue
            for node in ast.walk(fn):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id == "transition"):
                    target = node.args[2]
                    assert isinstance(target, ast.Constant), (
                        f"{where}:{node.lineno}: the target status must be a literal")
                    found.setdefault((where, fn.name), set()).add(target.value)
    return found


def test_every_transition_of_the_table_names_its_callers():
    assert set(CALLERS) == set(TRANSITIONS)


def test_every_named_caller_asks_for_its_transitions_target():
    targets = _targets_by_function()
    missing = [(pair, caller) for pair, callers in CALLERS.items() for caller in callers
               if pair[1] not in targets.get(caller, set())]
    assert missing == []


def test_every_caller_of_transition_is_named():
    named = {caller for callers in CALLERS.values() for caller in callers}
    assert set(_targets_by_function()) - named == set()
