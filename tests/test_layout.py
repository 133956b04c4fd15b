"""The layout keeps its promises: an AST walk of playground/ (no imports executed).

- core imports no stage, UI or CLI module; stages import no UI, CLI or gradio; the UI imports no trainer;
  trainers import no UI and no gradio; nothing imports a module by a string (importlib);
- no import cycles (lazy imports inside functions count; `if TYPE_CHECKING:` imports do not);
- UI modules stay small and UI handlers take few parameters (group them in a dataclass or gr.State);
- every package says in its docstring what lives there and what it may import.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "playground"
MAX_UI_LINES = 320
MAX_HANDLER_PARAMS = 8
MAX_UI_FUNCTION_LINES = 80  # a tab lays out and wires: longer means handlers or services hide inside it


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return skip


def imports_of(name: str) -> set[str]:
    """Modules `name` imports (resolved to modules of this package, or the top-level name of a library)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in MODULES else node.module)
    return out


GRAPH = {name: {m for m in imports_of(name) if m in MODULES and m != name} for name in MODULES}
EXTERNAL = {name: {m.split(".")[0] for m in imports_of(name) if not m.startswith("playground")} for name in MODULES}


def is_trainer(name: str) -> bool:
    """Code that runs inside a training subprocess: stages/*/train.py, their shared helpers, PPO's maths.
    (stages/data.py reads rows for trainers and services alike: it is not one.)"""
    return (name.startswith("playground.stages.") and name.endswith(".train")) or name in (
        "playground.stages.trainer", "playground.stages.ppo.core")


def test_the_walk_sees_the_package() -> None:
    assert "playground.ui.app" in MODULES and "playground.core.config" in MODULES
    assert "playground.stages.ppo.train" in GRAPH and is_trainer("playground.stages.ppo.train")
    assert "playground.stages.ppo.config" in GRAPH["playground.stages.ppo.train"]  # edges are found


@pytest.mark.parametrize("layer,forbidden", [
    ("playground.core", ("playground.stages", "playground.ui", "playground.cli")),
    ("playground.stages", ("playground.ui", "playground.cli")),
])
def test_lower_layers_do_not_import_higher_ones(layer: str, forbidden: tuple[str, ...]) -> None:
    bad = [(m, d) for m, deps in GRAPH.items() if m.startswith(layer) for d in deps if d.startswith(forbidden)]
    assert bad == []


def test_ui_imports_no_trainer_and_trainers_import_no_ui_or_gradio() -> None:
    ui_to_trainer = [(m, d) for m, deps in GRAPH.items() if m.startswith("playground.ui") for d in deps
                     if is_trainer(d)]
    assert ui_to_trainer == []
    trainer_to_ui = [(m, d) for m, deps in GRAPH.items() if is_trainer(m) for d in deps
                     if d.startswith("playground.ui")]
    assert trainer_to_ui == []
    gradio_users = [m for m in MODULES if "gradio" in EXTERNAL[m] and not m.startswith("playground.ui")]
    assert gradio_users == []


def test_no_import_cycles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == []


def test_nothing_is_imported_by_a_string() -> None:
    users = [m for m, p in MODULES.items() if "import_module(" in p.read_text(encoding="utf-8")]
    assert users == []


def test_ui_modules_are_small_and_handlers_take_few_parameters() -> None:
    big, wide = [], []
    for name, path in MODULES.items():
        if not name.startswith("playground.ui"):
            continue
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_UI_LINES:
            big.append((name, len(text.splitlines())))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + bool(a.vararg)
                if n > MAX_HANDLER_PARAMS:
                    wide.append((name, node.name, n))
    assert big == [] and wide == []


def test_no_ui_function_is_longer_than_80_lines() -> None:
    long = []
    for name, path in MODULES.items():
        if not name.startswith("playground.ui"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_UI_FUNCTION_LINES:
                    long.append((name, node.name, n))
    assert long == [], "split these into layout + module-level handlers returning {component: value}"


def test_every_package_says_what_lives_there_and_what_it_may_import() -> None:
    missing = []
    for init in sorted(PKG.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        if init.parent != PKG and "import" not in doc.lower():
            missing.append(str(init.relative_to(PKG.parent)))
    assert missing == []


def stage_package(name: str) -> str | None:
    """playground.stages.<x>... -> "<x>" (a stage package, or a shared module such as data / trainer)."""
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["playground", "stages"] else None


def test_no_loop_between_stage_packages() -> None:
    """Module cycles are caught above; this catches a loop through different modules of two stages
    (preferences/judge -> reward/service while reward/evaluate -> preferences/io)."""
    edges: dict[str, set[str]] = {}
    why: dict[tuple[str, str], str] = {}
    for m, deps in GRAPH.items():
        a = stage_package(m)
        for d in deps:
            b = stage_package(d)
            if a and b and a != b:
                edges.setdefault(a, set()).add(b)
                why.setdefault((a, b), f"{m} -> {d}")

    def reaches(src: str, dst: str) -> bool:
        seen, todo = set(), [src]
        while todo:
            v = todo.pop()
            if v == dst:
                return True
            if v not in seen:
                seen.add(v)
                todo.extend(edges.get(v, ()))
        return False

    loops = sorted(f"{why[(a, b)]} (and back)" for a in edges for b in edges[a] if reaches(b, a))
    assert loops == []


def test_only_the_workspace_opens_sqlite() -> None:
    """SQL lives in core/workspace.py: every other module asks the Workspace (no `._connect(`), and database files
    (backups, bundles) are opened by its functions too (no `sqlite3.connect(`)."""
    users = [m for m, p in MODULES.items() if m != "playground.core.workspace"
             and any(s in p.read_text(encoding="utf-8") for s in ("._connect(", "sqlite3.connect("))]
    assert users == []


CITED = re.compile(r"(?<![\w./<>-])((?:[\w.-]+/)+[\w-]+\.(?:py|md|yaml|yml|toml|sh))(?::\d+)?(?![\w/])")


def test_every_repo_path_a_docstring_cites_exists() -> None:
    """A docstring that names a source file by its path (`stages/reward/scorer.py`, `bench/README.md`,
    `ppo/rules.py:74`) names one that exists: from the repo root, from playground/ or one of its layers, or beside
    the module. A path counts as the repo's when its first folder is one of those places (`tests/`, `stages/`,
    `ppo/`); `runs/<id>/config.yaml`, an export's `DIR/launch.sh` or another project's `verl/...` do not."""
    repo = PKG.parent
    roots = [repo, PKG] + [PKG / p for p in ("core", "stages", "ui", "cli")]
    stale = []
    for name, path in MODULES.items():
        here = [*roots, path.parent]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for m in CITED.finditer(ast.get_docstring(node) or ""):
                cited = m.group(1)
                first = cited.split("/")[0]
                ours = first != "runs" and any((r / first).is_dir() for r in here)
                if ours and not any((r / cited).exists() for r in here):
                    stale.append(f"{name}: {cited}")
    assert stale == []
