"""The import rules of docs/architecture.md, checked on the source (an AST walk, no imports run).

- No import cycles between our modules, counting imports inside functions too (a late import
  hides a cycle; it does not remove it). Only `if TYPE_CHECKING:` imports are left out.
- Data flows telephony -> voice: `voice` imports neither `telephony` nor `review`.
- `review` only reads: from `voice` it imports the store (tables and read functions), settings,
  masking and logging, and the live console's audio hub.
- Only `voice/pipeline/` imports pipecat.
- Every table is declared in `voice/store/schema.py`.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("voice", "telephony", "review")
REVIEW_MAY_IMPORT = (
    "voice.store",
    "voice.settings",
    "voice.privacy",
    "voice.logs",
    "voice.supervision.listen",  # listen-in audio, fanned out by the worker holding the call
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def imported(path: Path) -> set[str]:
    """Every module name an import statement in `path` names, at any depth."""
    tree_ = tree(path)
    type_checking = {
        id(inner)
        for node in ast.walk(tree_)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree_):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)  # `from voice.store import seeding` names a module too
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def internal_graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {m for m in imported(path) if m in known and m != name}
        for name, path in known.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(internal_graph()) == []


def test_voice_never_imports_the_edge_or_review():
    wrong = {
        f"{name} imports {target}"
        for name, targets in internal_graph().items()
        if name.startswith("voice")
        for target in targets
        if target.startswith(("telephony", "review"))
    }
    assert not wrong


def test_review_imports_only_the_store_and_plain_helpers_from_voice():
    wrong = {
        f"{name} imports {target}"
        for name, targets in internal_graph().items()
        if name.startswith("review")
        for target in targets
        if target.startswith("voice")
        and not any(target == ok or target.startswith(ok + ".") for ok in REVIEW_MAY_IMPORT)
        and target != "voice"
    }
    assert not wrong


def test_only_voice_pipeline_imports_pipecat():
    wrong = {
        name
        for name, path in modules().items()
        if not name.startswith("voice.pipeline")
        and any(m == "pipecat" or m.startswith("pipecat.") for m in imported(path))
    }
    assert not wrong


def test_every_table_is_declared_in_the_schema_module():
    declared: dict[str, str] = {}
    for name, path in modules().items():
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(item, ast.Assign | ast.AnnAssign)
                and "__tablename__" in ast.unparse(item)
                for item in node.body
            ):
                declared[node.name] = name
    assert declared, "no tables found: the walk is broken"
    assert {"Call", "Turn", "StreamGrant", "CallbackRequest", "Manager", "Customer"} <= set(
        declared
    )
    assert set(declared.values()) == {"voice.store.schema"}


def test_every_package_says_what_it_holds():
    undocumented = [
        name
        for name, path in modules().items()
        if path.name == "__init__.py" and len(ast.get_docstring(tree(path)) or "") < 40
    ]
    assert not undocumented
