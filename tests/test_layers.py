"""The import graph of homecare/ has no cycles, and the layers import only downwards."""

from __future__ import annotations

import ast
from pathlib import Path

import homecare

ROOT = Path(homecare.__file__).parent
# The orders core: what every use case touching an order builds on. Dispatch,
# visits, family beds and the day plan depend on it, never the other way round.
ORDERS_CORE = ("homecare.orders.models", "homecare.orders.states", "homecare.orders.errors",
               "homecare.orders.access", "homecare.orders.views")
USE_CASES = ("homecare.dispatch", "homecare.scheduling", "homecare.visits",
             "homecare.family_beds", "homecare.notifications", "homecare.alerts",
             "homecare.audit", "homecare.orders.service", "homecare.order_hooks")
# The audit trail is a sink everybody writes to: it imports no domain.
AUDIT = ("homecare.audit.models", "homecare.audit.service")
DOMAINS = ("accounts", "alerts", "catalogue", "dispatch", "family_beds", "notifications",
           "nurseday", "nurses", "orders", "patients", "scheduling", "visits")


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = ("homecare", *path.relative_to(ROOT).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the homecare modules it imports, at module level or inside functions
    (both are dependencies), but not under ``if TYPE_CHECKING``."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                               else node.module for a in node.names)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        graph[name] = {r for t in targets if t.startswith("homecare")
                       and (r := resolve(t)) not in (None, name, "homecare")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


GRAPH = _imports(_modules())


def _package(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def test_import_graph_has_no_cycle_between_domain_packages():
    # Function-level imports count: they hide a cycle, they do not remove it.
    crossing = [c for c in _cycles(GRAPH) if len({_package(m) for m in c}) > 1]
    assert crossing == []


def test_import_graph_has_no_cycle_at_all():
    assert _cycles(GRAPH) == []


def test_orders_core_imports_no_use_case():
    wrong = {(m, t) for m in ORDERS_CORE for t in GRAPH[m]
             if any(t == u or t.startswith(u + ".") for u in USE_CASES)}
    assert wrong == set()


def test_audit_is_a_leaf():
    wrong = {(m, t) for m in AUDIT for t in GRAPH[m] if _package(t) in DOMAINS}
    assert wrong == set()


def test_the_graph_walker_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_the_compatibility_re_exports():
    # homecare.extensions only re-exports db, api, pagination and clock for the
    # migrations and branches in flight; the package itself imports the real homes.
    graph = _imports(_modules())
    users = sorted(m for m, deps in graph.items()
                   if "homecare.extensions" in deps and m != "homecare.extensions")
    assert users == []
