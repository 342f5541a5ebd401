"""The offline writer's modules form a one-way pipeline: no import circles, no reaching into private names."""

from __future__ import annotations

import ast
from pathlib import Path

import llm.offline

PACKAGE = "llm.offline"
ROOT = Path(llm.offline.__file__).parent


def _modules(root: Path) -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(root.glob("*.py"))}


def _imports(tree: ast.Module, modules: set[str]) -> list[tuple[str, str, bool]]:
    """``(module, imported name, at top level)`` for every import of a sibling module, anywhere in the file."""
    top = {id(node) for node in tree.body}
    found: list[tuple[str, str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found += [(a.name, "", id(node) in top) for a in node.names if a.name in modules]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            target = (node.module or "").removeprefix(PACKAGE + ".")
            found += [(target, a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [
                (a.name.removeprefix(PACKAGE + "."), "", id(node) in top)
                for a in node.names
                if a.name.startswith(PACKAGE + ".")
            ]
    return found


def _graph(root: Path) -> dict[str, set[str]]:
    trees = _modules(root)
    names = set(trees)
    return {m: {target for target, _, _ in _imports(t, names)} - {m} for m, t in trees.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path of module names, or None when the graph is a DAG."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_import_graph_is_acyclic() -> None:
    assert _cycle(_graph(ROOT)) is None


def test_sibling_imports_are_at_module_level() -> None:
    trees = _modules(ROOT)
    late = [
        f"{m} imports {target}"
        for m, tree in trees.items()
        for target, _, at_top in _imports(tree, set(trees))
        if not at_top
    ]
    assert late == []


def test_no_private_names_cross_modules() -> None:
    trees = _modules(ROOT)
    private = [
        f"{m} imports {target}.{name}"
        for m, tree in trees.items()
        for target, name, _ in _imports(tree, set(trees))
        if name.startswith("_")
    ]
    assert private == []


def test_cycle_finder_sees_a_circle() -> None:
    assert _cycle({"parse": {"roles"}, "roles": {"parse"}}) == ["parse", "roles", "parse"]


def test_every_lexicon_table_has_a_typed_name() -> None:
    import json

    from llm.offline import lexicon

    tables = json.loads((ROOT / "data" / "lexicon.json").read_text(encoding="utf-8"))
    assert sorted(k for k in tables if not hasattr(lexicon, k.upper())) == []


def test_role_passes_are_a_pipeline_over_one_state() -> None:
    """``assign_roles`` runs ``roles.PASSES``: each a public function of a ``roles_*`` module taking the
    ``RoleState``; every such function is a pass, run once; no roles module or function grows back to a wall."""
    from llm.offline import roles

    passes = {(f.__module__.removeprefix(PACKAGE + "."), f.__name__) for f in roles.PASSES}
    assert len(passes) == len(roles.PASSES)
    found = set()
    for path in sorted(ROOT.glob("roles*.py")):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 500, path.name
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef):
                assert node.end_lineno is not None and node.end_lineno - node.lineno < 150, node.name
                first = node.args.args[0].annotation if node.args.args else None
                if isinstance(first, ast.Name) and first.id == "RoleState" and not node.name.startswith("_"):
                    found.add((path.stem, node.name))
    assert found == passes
