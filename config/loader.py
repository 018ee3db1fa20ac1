"""Load `config/<env>.yaml` into a validated, frozen `MlopsConfig`, or fail with every problem.

A failure lists each problem once, as `<file>:<line>: <key path>: <message>`, so a
reviewer can jump to the line. Duplicate YAML keys are errors too: PyYAML would keep
the last one silently, which is a typo that hides a setting.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from config.schema import CrossFieldError, MlopsConfig

CONFIG_DIR = Path(__file__).resolve().parent
REPO_ROOT = CONFIG_DIR.parent

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    message: str
    line: int | None = None


class ConfigError(Exception):
    """Invalid configuration: `issues` holds every problem found."""

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        lines = [f"{len(issues)} problem(s) in {source}:"]
        for issue in issues:
            where = f"{source}:{issue.line}: " if issue.line else ""
            lines.append(f"  {where}{issue.path or '<top level>'}: {issue.message}")
        super().__init__("\n".join(lines))


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (first on line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def available_envs(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in config_dir.glob("*.yaml"))


def format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load_config(env: str, *, config_dir: Path = CONFIG_DIR, root: Path = REPO_ROOT) -> MlopsConfig:
    """Read and validate `<config_dir>/<env>.yaml`; `root` anchors containers/ and local paths."""
    path = config_dir / f"{env}.yaml"
    if not path.is_file():
        envs = available_envs(config_dir)
        raise ConfigError(
            str(path),
            [ConfigIssue("env", f"unknown environment '{env}'; environments with a config file: {', '.join(envs) or 'none'}")],
        )
    return parse_config(path.read_text(), source=_display(path, root), root=root)


def parse_config(text: str, *, source: str = "<config>", root: Path | None = REPO_ROOT) -> MlopsConfig:
    """Validate config text; raises ConfigError listing every problem with its line."""
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(source, [ConfigIssue("", f"invalid YAML: {error.problem or error}", line)]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigIssue("", "the file must be a mapping of keys (account, region, endpoints, ...)", 1)])
    try:
        return MlopsConfig.model_validate(data, context={"root": root})
    except ValidationError as error:
        raise ConfigError(source, _issues(error, node)) from None


def _issues(error: ValidationError, node: yaml.Node | None) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for item in error.errors():
        loc: Loc = tuple(item["loc"])
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, CrossFieldError):
            for relative, message in cause.issues:
                full = loc + relative
                issues.append(ConfigIssue(format_loc(full), message, _line(node, full)))
            continue
        if item["type"] == "extra_forbidden":
            message = _unknown_key_message(loc)
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            if item["type"] == "missing":
                message = "required key is missing"
        issues.append(ConfigIssue(format_loc(loc), message, _line(node, loc)))
    return sorted(issues, key=lambda issue: (issue.line or 0, issue.path))


def _unknown_key_message(loc: Loc) -> str:
    allowed = sorted(_keys(_model_at(MlopsConfig, loc[:-1]))) if loc else []
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key{hint} (allowed here: {', '.join(allowed)})"


def _keys(model: type[BaseModel]) -> dict[str, Any]:
    """The model's fields by the key YAML uses (the alias where a key is a Python keyword, e.g. `async`)."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel]:
    """The model class that validates the mapping at `loc` (for listing its keys)."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            current = _keys(current)[part].annotation
        # unwrap list[X], dict[str, X], X | None
        while typing.get_origin(current) in (list, dict, typing.Union, types.UnionType):
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[-1]
    return current if isinstance(current, type) and issubclass(current, BaseModel) else model


def _line(node: yaml.Node | None, loc: Loc) -> int | None:
    """1-based line of the deepest YAML node along `loc`."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    child = value_node
                    line = key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
