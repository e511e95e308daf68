"""Rule files: YAML text -> typed rules, refusing a bad file with every error.

The YAML is composed into nodes first so that each value keeps its line;
pydantic's error locations are then mapped back to those lines, and every
problem of every file is reported as ``file:line: where: what``.

This module parses text it is given; reading the files is
``audit.adapters.bundled_data.load_rule_dir``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from audit.domain.detection.rules import RULE_TYPES, RuleBase
from audit.errors import ConfigurationError

Location = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a rule file."""

    file: str
    line: int
    where: str
    message: str

    def __str__(self) -> str:
        where = f" {self.where}:" if self.where else ""
        return f"{self.file}:{self.line}:{where} {self.message}"


class RuleFileError(ConfigurationError):
    """One or more rule files are invalid; each problem names its file and line.

    Fix every listed line (``audit rules validate DIR`` re-checks) and restart.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in rule files:\n{lines}")


class _Marked:
    """A composed YAML document turned into Python values, with lines by path."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Location, int] = {}
        self.problems: list[Problem] = []

    def convert(self, node: yaml.Node, loader: yaml.SafeLoader, path: Location) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool):
                    self._problem(key_node, path, "a mapping key must be a plain value")
                    continue
                if key in out:
                    self._problem(key_node, path, f"duplicate key {key!r}")
                    continue
                out[key] = self.convert(value_node, loader, (*path, str(key)))
                self.lines[(*path, str(key))] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [
                self.convert(item, loader, (*path, index)) for index, item in enumerate(node.value)
            ]
        return loader.construct_object(node, deep=True)

    def _problem(self, node: yaml.Node, path: Location, message: str) -> None:
        self.problems.append(Problem(self.file, node.start_mark.line + 1, _dotted(path), message))

    def line_of(self, data: Any, loc: Location) -> tuple[int, str]:
        """The line of the deepest existing part of a pydantic error location.

        Location parts that are not in the data (union tags such as
        ``condition``, the model name of a validator) are skipped.
        """
        path: Location = ()
        node = data
        for part in loc:
            key: str | int | None = None
            if isinstance(node, dict) and str(part) in node:
                key = str(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                key = part
            if key is None:
                continue
            path = (*path, key)
            node = node[int(key)] if isinstance(node, list) else node[str(key)]
        return self.lines.get(path, self.lines.get((), 1)), _dotted(path)


def _parts(where: str) -> Location:
    return (where,) if where else ()


def _dotted(path: Location) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_rule_text(text: str, file: str) -> tuple[RuleBase | None, list[Problem]]:
    """One rule from one YAML document; the rule or every problem found."""
    loader = yaml.SafeLoader(text)
    marked = _Marked(file)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Problem(file, 1, "", "empty rule file")]
        data = marked.convert(node, loader, ())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(
            str(part)
            for part in (getattr(err, "context", None), getattr(err, "problem", None))
            if part
        )
        return None, [Problem(file, line, "", f"not valid YAML: {what or err}")]
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        return None, [Problem(file, marked.lines.get((), 1), "", "a rule file is a mapping")]
    problems = list(marked.problems)
    kind = data.get("type")
    cls = RULE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        line = marked.lines.get(("type",), marked.lines.get((), 1))
        known = ", ".join(sorted(RULE_TYPES))
        problems.append(Problem(file, line, "type", f"unknown rule type {kind!r}: use {known}"))
        return None, problems
    try:
        rule = cls.model_validate(data)
    except ValidationError as err:
        problems.extend(_problems(file, marked, data, err))
        return None, problems
    return (rule, []) if not problems else (None, problems)


def _problems(file: str, marked: _Marked, data: Any, err: ValidationError) -> list[Problem]:
    """One problem per location; the alternatives of a union merged into one."""
    merged: dict[tuple[int, str], list[str]] = {}
    for error in err.errors(include_url=False):
        given = error.get("input")
        minimum = (error.get("ctx") or {}).get("min_length")
        if (
            error["type"] == "too_short"
            and isinstance(given, list | tuple)
            and minimum
            and len(given) >= minimum
        ):
            continue  # an item failed: that item's error says why
        line, where = marked.line_of(data, tuple(error["loc"]))
        if error["type"] == "missing" and error["loc"]:
            where = _dotted((*_parts(where), str(error["loc"][-1])))
        messages = merged.setdefault((line, where), [])
        if error["msg"] not in messages:
            messages.append(error["msg"])
    return [
        Problem(file, line, where, " or ".join(messages))
        for (line, where), messages in merged.items()
    ]


def parse_rule_texts(texts: Iterable[tuple[str, str]]) -> tuple[RuleBase, ...]:
    """Rules from ``(file name, text)`` pairs; raises RuleFileError with all problems."""
    rules: list[RuleBase] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for file, text in texts:
        rule, found = parse_rule_text(text, file)
        problems.extend(found)
        if rule is None:
            continue
        if rule.id in seen:
            problems.append(
                Problem(file, 1, "id", f"rule id {rule.id!r} already defined in {seen[rule.id]}")
            )
            continue
        seen[rule.id] = file
        rules.append(rule)
    if problems:
        raise RuleFileError(problems)
    return tuple(rules)
