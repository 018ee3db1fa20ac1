"""tests/scheduling.py: how the suite is split between pytest-xdist workers."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.scheduling import FIRST, GROUPS, SESSION_FIXTURES, rank, unit_of

TESTS = Path(__file__).parent
MODULES = sorted(TESTS.glob("test_*.py"))


def _functions(module: Path) -> list[ast.FunctionDef]:
    return [n for n in ast.walk(ast.parse(module.read_text())) if isinstance(n, ast.FunctionDef)]


def _wide_fixtures(module: Path) -> list[str]:
    """Fixtures a test module defines with a scope wider than one test."""
    found = []
    for function in _functions(module):
        for decorator in function.decorator_list:
            if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.fixture":
                scopes = [k.value for k in decorator.keywords if k.arg == "scope"]
                if any(isinstance(s, ast.Constant) and s.value != "function" for s in scopes):
                    found.append(function.name)
    return found


def _users(fixture: str) -> set[str]:
    """Test modules with a test or fixture that takes `fixture`."""
    return {f"tests/{m.name}" for m in MODULES if any(a.arg == fixture for f in _functions(m) for a in f.args.args)}


def test_every_module_with_a_shared_fixture_is_grouped() -> None:
    """Else each worker that runs one of its tests builds the fixture again (seconds each)."""
    shared = {f"tests/{m.name}": _wide_fixtures(m) for m in MODULES}
    assert shared["tests/test_diff.py"] == ["project", "runs"]  # the reader finds them
    assert {module: fixtures for module, fixtures in shared.items() if fixtures and module not in GROUPS} == {}


def test_the_users_of_a_costly_session_fixture_share_one_unit() -> None:
    for fixture in SESSION_FIXTURES:
        users = _users(fixture)
        assert users, fixture
        assert len({GROUPS.get(module, module) for module in users}) == 1, (fixture, users)


def test_listed_modules_exist() -> None:
    for module in set(GROUPS) | {f for f in FIRST if f.startswith("tests/")}:
        assert (TESTS.parent / module).is_file(), module
        assert module not in FIRST or module not in GROUPS, f"{module}: name its group in FIRST"
    assert {f for f in FIRST if not f.startswith("tests/")} <= set(GROUPS.values())


def test_a_grouped_module_is_its_unit_and_others_split_per_test() -> None:
    assert unit_of("tests/test_diff.py::test_weight_shift_only") == "diff"
    assert unit_of("tests/test_server.py::test_ping_is_healthy") == unit_of("tests/test_model_format.py::test_x") == "model"
    assert unit_of("tests/test_endpoint.py::test_x[a]") == "tests/test_endpoint.py::test_x[a]"
    assert rank("diff") < rank("tests/test_training_resume.py::test_y") < rank("model") < rank("tests/test_endpoint.py::test_x")
