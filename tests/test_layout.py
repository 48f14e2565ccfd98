"""The test suite's own layout: helpers in one module, fixtures in conftest files, tests mirroring the
package (so that a newcomer finds the tests of ``comments/services/X.py`` in ``tests/services/test_X.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "comments"

# Files whose owners rename them in the same redesign (issue 14); each entry must name a file that
# still exists, so the list empties itself as they land.


def _modules() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts)


def _imported_modules(source: str, package: str) -> list[str]:
    """Every module ``source`` imports, at the top or inside a function, relative imports resolved."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            names += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return names


def conftest_imports(source: str, package: str) -> list[str]:
    return [name for name in _imported_modules(source, package) if "conftest" in name.split(".")]


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(TESTS)))
def test_no_test_module_imports_a_conftest(path):
    """pytest loads conftest files itself; importing one runs it a second time, as another module,
    and hides where a helper lives. Helpers belong in tests/helpers.py."""
    package = ".".join(path.relative_to(TESTS.parent).parent.parts)
    assert conftest_imports(path.read_text(), package) == []


def test_the_conftest_check_sees_every_spelling_of_an_import():
    """The check above is only as good as its parser: each of these must be caught."""
    spellings = [
        "from tests.conftest import Api",
        "from tests.dashboard.conftest import make_comment",
        "import tests.conftest",
        "def f():\n    from tests.widget import conftest",
        "from . import conftest",
        "from .conftest import SITE",
    ]
    for source in spellings:
        assert conftest_imports(source, "tests.widget"), source
    assert conftest_imports("from tests.helpers import Api\nfrom . import helpers", "tests") == []


def test_conftest_files_hold_fixtures_only():
    """A function or class defined in a conftest that is not a fixture is a helper out of place."""
    for path in TESTS.rglob("conftest.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                pytest.fail(f"{path.relative_to(TESTS)} defines class {node.name}: move it to tests/helpers.py")
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                decorators = [ast.unparse(decorator) for decorator in node.decorator_list]
                assert any(d.startswith(("pytest.fixture", "fixture")) for d in decorators) or node.name.startswith(
                    "pytest_"
                ), f"{path.relative_to(TESTS)} defines {node.name}(), not a fixture: move it to tests/helpers.py"


def test_besides_tests_and_fixtures_there_is_one_helpers_module():
    """Shared helpers and shared test data (payload lists...) live in tests/helpers.py only; besides
    it, the simulated site of issue 17 (tests/simulation.py), which the benchmarks import too and
    which needs nothing of the test app, and its loader into the calibration tables
    (tests/calibration_data.py), which the benchmark runs outside pytest."""
    others = [
        path.relative_to(TESTS).as_posix()
        for path in _modules()
        if not path.name.startswith("test_") and path.name not in ("conftest.py", "__init__.py")
    ]
    assert others == ["calibration_data.py", "helpers.py", "simulation.py"]


def _mirrors(test_file: Path) -> bool:
    """tests/<pkg>/test_X.py names comments/<pkg>/X.py or the package comments/<pkg>/X/."""
    name = test_file.stem.removeprefix("test_")
    where = PACKAGE / test_file.parent.relative_to(TESTS)
    return (where / f"{name}.py").is_file() or (where / name / "__init__.py").is_file()


def test_service_tests_mirror_the_services():
    misplaced = [
        path.relative_to(TESTS).as_posix()
        for path in sorted((TESTS / "services").rglob("test_*.py"))
        if not _mirrors(path)
    ]
    assert misplaced == [], "each tests/services/[pkg/]test_X.py tests comments/services/[pkg/]X.py"


def test_the_mirror_check_tells_a_mirrored_file_from_a_misplaced_one():
    assert _mirrors(TESTS / "services" / "test_submission.py")
    assert _mirrors(TESTS / "services" / "test_importers.py")  # a package: comments/services/importers/
    assert not _mirrors(TESTS / "services" / "test_import.py")
    assert not _mirrors(TESTS / "services" / "test_policy.py")  # the policy lives in moderation.py
    assert _mirrors(TESTS / "services" / "review" / "test_queue.py")
