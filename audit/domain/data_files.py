"""YAML parsing that remembers line numbers, so errors can name file and line.

Mappings come back as :class:`LineDict` (a ``dict`` that also knows the line
of each key). :func:`line_of` walks a pydantic error location through the
parsed data to the deepest line it can find.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from audit.errors import ConfigurationError


class LineDict(dict[Any, Any]):
    """A mapping parsed from YAML: ``line`` of the mapping, ``lines`` per key (1-based)."""

    line: int = 0
    lines: dict[Any, int]


class DataFileError(ConfigurationError):
    """A YAML data file (checklist template, attributes) is invalid.

    ``problems`` lists every problem found as ``file:line: message``; fix them
    all in the file named and reload.
    """

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        joined = "\n  ".join(self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n  {joined}")


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.MarkedYAMLError(
                problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str) -> Any:
    """Parse ``text``; a syntax error becomes a :class:`DataFileError` naming ``source:line``."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise DataFileError(source, [f"{source}:{line}: {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise DataFileError(source, [f"{source}: {exc}"]) from exc


def line_of(data: Any, loc: Sequence[int | str]) -> int:
    """The line of the deepest element of ``data`` reachable along ``loc`` (0 if unknown)."""
    line = data.line if isinstance(data, LineDict) else 0
    node = data
    for part in loc:
        if isinstance(node, LineDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, LineDict):
                line = node.line
        else:
            break
    return line


def describe_validation_error(
    exc: ValidationError, data: Any, source: str, prefix: Sequence[int | str] = ()
) -> list[str]:
    """One ``file:line: where: message`` string per error in ``exc``."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        where = ".".join(str(p) for p in (*prefix, *loc)) or "(top)"
        line = line_of(data, loc)
        problems.append(f"{source}:{line}: {where}: {error['msg']}")
    return problems
