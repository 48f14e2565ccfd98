"""The package's layers, read from its source: what each module imports, at its top and inside functions.

api / dashboard / widget / cli / tasks -> services -> models -> extensions. Nothing points back up,
and no two modules of ``comments`` need each other (a circle that function-local imports hide still
ties the modules' fates together, and breaks as soon as someone moves one of those imports up).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "comments"
ROOT = PACKAGE_DIR.parent

CLIENT_LAYERS = (
    "comments.api",
    "comments.dashboard",
    "comments.widget",
    "comments.cli",
    "comments.tasks",
    "comments.perspective",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


MODULES = _source_modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, names: list[str], importer: str, level: int) -> set[str]:
    """The modules of ``comments`` an import statement names (``from x import y`` names x.y when
    y is a module, else x)."""
    if level:
        base = importer.split(".")
        if not _is_package(importer):
            base.pop()
        base = base[: len(base) - (level - 1)]
        module = ".".join(base + ([module] if module else []))
    targets = set()
    for name in names:
        candidate = f"{module}.{name}" if name else module
        if candidate in MODULES:
            targets.add(candidate)
        elif module in MODULES:
            targets.add(module)
    return targets


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(name: str) -> list[tuple[str, int, bool]]:
    """(imported module of ``comments``, line, whether inside a function) for each import of
    module ``name``, those for type checkers only left out (they never run)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking_block(child):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    for target in _resolve(alias.name, [""], name, 0):
                        found.append((target, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                for target in _resolve(child.module or "", [a.name for a in child.names], name, child.level):
                    found.append((target, child.lineno, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return [(target, line, local) for target, line, local in found if target != name]


def import_graph() -> dict[str, set[str]]:
    return {name: {target for target, _, _ in _imports(name)} for name in MODULES}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle for each group of modules that import each other (Tarjan's strongly connected
    components), shown as a path that comes back to where it started."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_circle_through(graph, component) for component in components]


def _circle_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:  # breadth first: the shortest way back to the start
        node = queue.pop(0)
        for target in sorted(graph[node] & component):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    raise AssertionError(f"no circle in {component}")  # a strongly connected component has one


def test_the_cycle_finder_finds_a_circle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_comments_imports_one_that_imports_it_back():
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def _layer_violations(modules: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for name in MODULES:
        if not name.startswith(modules):
            continue
        for target, line, _ in _imports(name):
            if target.startswith(forbidden):
                found.append(f"{MODULES[name].relative_to(ROOT)}:{line} imports {target}")
    return found


def test_services_and_models_never_import_a_client_layer():
    assert _layer_violations(("comments.services", "comments.models"), CLIENT_LAYERS) == []


def test_models_import_no_service():
    assert _layer_violations(("comments.models", "comments.extensions"), ("comments.services",)) == []


def test_extensions_depend_on_nothing_of_ours():
    assert [target for target, _, _ in _imports("comments.extensions")] == []


def _has_comment(lines: list[str], node: ast.stmt) -> bool:
    """A comment on the import's lines, or on the line just above it (or above the run of
    imports it belongs to)."""
    assert node.end_lineno is not None
    if any("#" in line for line in lines[node.lineno - 1 : node.end_lineno]):
        return True
    above = node.lineno - 2
    while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def test_every_function_local_import_says_why():
    """Imports inside functions hide an import circle or defer a cost; the why is written beside."""
    unexplained = []
    for _name, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for statement in ast.walk(node):
                if isinstance(statement, (ast.Import, ast.ImportFrom)) and not _has_comment(lines, statement):
                    where = f"{path.relative_to(ROOT)}:{statement.lineno}"
                    unexplained.append(f"{where}: {lines[statement.lineno - 1].strip()}")
    assert not unexplained, "function-local imports that do not say why:\n" + "\n".join(unexplained)


SERVICE_MODULES = sorted(name for name in MODULES if name.startswith("comments.services."))


@pytest.mark.parametrize(
    "modules", [["comments.models"], ["comments.services", *SERVICE_MODULES]], ids=["models", "services"]
)
def test_the_model_and_service_layers_load_without_the_web_extensions(modules):
    """A worker or a command that needs only the models and services loads neither flask-smorest
    (the API's) nor Flask-Limiter (the web's): they are not part of those layers."""
    script = (
        f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
        "print(sorted(m for m in ('flask_smorest', 'flask_limiter') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
