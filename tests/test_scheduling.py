"""tests/scheduling.py: how the suite is split between pytest-xdist workers."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.scheduling import FIRST, GROUPED, rank, unit_of

TESTS = Path(__file__).parent


def _wide_fixtures(module: Path) -> list[str]:
    """Fixtures a test module defines with a scope wider than one test."""
    found = []
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.fixture":
                    scopes = [k.value for k in decorator.keywords if k.arg == "scope"]
                    if any(isinstance(s, ast.Constant) and s.value != "function" for s in scopes):
                        found.append(node.name)
    return found


def test_every_module_with_a_shared_fixture_runs_on_one_worker() -> None:
    """Else each worker that runs one of its tests builds the fixture again (seconds each)."""
    shared = {f"tests/{m.name}": _wide_fixtures(m) for m in sorted(TESTS.glob("test_*.py"))}
    ungrouped = {module: fixtures for module, fixtures in shared.items() if fixtures and module not in GROUPED}
    assert ungrouped == {}
    assert shared["tests/test_diff.py"] == ["project", "runs"]  # the reader finds them


def test_listed_modules_exist() -> None:
    for module in GROUPED | set(FIRST):
        assert (TESTS.parent / module).is_file(), module


def test_a_grouped_module_is_one_unit_and_others_split_per_test() -> None:
    assert unit_of("tests/test_diff.py::test_weight_shift_only") == "tests/test_diff.py"
    assert unit_of("tests/test_endpoint.py::test_x[a]") == "tests/test_endpoint.py::test_x[a]"
    assert rank("tests/test_diff.py") < rank("tests/test_training_resume.py::test_y") < rank("tests/test_endpoint.py::test_x")
