"""Reading the files users hand to tritonkit, bounded: text that must be UTF-8, YAML loaded safely
with its alias expansion, nesting and size limited, and validation errors that quote at most a
short excerpt of what was read. Every problem becomes an InputError naming the file."""

from __future__ import annotations

import json
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import ValidationError

from tritonkit.errors import InputError

EXCERPT_CHARS = 80  # an error quotes at most this much of any value it read
MAX_YAML_BYTES = 1 << 20  # the project's YAML files are a few KiB; 1 MiB is not a config
# After alias expansion: a 481-byte file of nested aliases expands to ~10^9 nodes ("billion laughs").
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 64  # nesting, aliases expanded: the deepest spec is 5 levels
MAX_LISTED_PROBLEMS = 20  # a message lists this many problems, then says how many more
MAX_TEXT_BYTES = 64 << 20  # text files of sentences, tokenizer.json: the largest real ones are ≈ 20 MB
MAX_PATH_CHARS, MAX_NAME_CHARS = 4096, 255  # Linux's PATH_MAX and NAME_MAX

_REPR = reprlib.Repr()  # bounded by construction: nested and long values are elided, never walked whole
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple = 2, 4, 4, 4
_REPR.maxstring = _REPR.maxother = EXCERPT_CHARS


T = TypeVar("T")


def attempt(check: Callable[[], T], problems: list[str]) -> T | None:
    """`check()`'s result, or None with its InputError's message added to `problems`: for commands
    that report every problem of their inputs at once."""
    try:
        return check()
    except InputError as exc:
        problems.append(str(exc))
        return None


def excerpt(value: object) -> str:
    """A bounded repr of `value`, cheap however large `value` is."""
    text = _REPR.repr(value)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def path_problem(text: str) -> str | None:
    """Why `text` cannot name a file on this system (the OS would refuse it), or None."""
    if "\0" in text:
        return "contains a NUL character"
    if len(text) > MAX_PATH_CHARS:
        return f"is {len(text)} characters long; at most {MAX_PATH_CHARS}"
    if any(len(part.encode(errors="surrogateescape")) > MAX_NAME_CHARS for part in text.split("/")):
        return f"has a name longer than {MAX_NAME_CHARS} bytes"
    return None


def read_json_object(path: Path, what: str, holding: str) -> dict[str, object]:
    """The JSON object in `path` (read as read_text reads, bounded); `holding` says what its keys
    are, for messages (e.g. "tokenizer settings")."""
    text = read_text(path, what, MAX_TEXT_BYTES)
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(loaded, dict):
        raise InputError(f"{path}: a JSON {type(loaded).__name__}; expected an object of {holding}")
    return loaded


def read_text(path: Path, what: str, max_bytes: int) -> str:
    """The UTF-8 text of the regular file `path` (`what` says what it should be, for messages)."""
    if not path.exists():
        raise InputError(f"{path}: not found (expected {what})")
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise InputError(f"{path}: {kind} (expected {what})")
    try:
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise InputError(f"{path}: larger than {max_bytes} bytes (expected {what})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}, line {line}; expected {what})"
        ) from None


def read_lines(path: Path, what: str = "UTF-8 text, one sentence a line") -> list[str]:
    """The non-empty lines (stripped) of a UTF-8 text file; none at all is an error."""
    lines = [line.strip() for line in read_text(path, what, MAX_TEXT_BYTES).splitlines()]
    texts = [line for line in lines if line]
    if not texts:
        raise InputError(f"{path}: no text lines (expected {what})")
    return texts


class _BoundedLoader(yaml.SafeLoader):
    """safe_load's loader, refusing nesting beyond MAX_YAML_DEPTH while it composes (the composer
    recurses once per level, so a deep file would otherwise end in a RecursionError)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self._depth >= MAX_YAML_DEPTH:
            mark = self.peek_event().start_mark
            raise _Refused(f"nested deeper than {MAX_YAML_DEPTH} levels (line {mark.line + 1})")
        self._depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1


class _Refused(Exception):
    """A YAML document beyond the bounds, or with a duplicate key."""


def parse_yaml(path: Path, what: str) -> object:
    """The data of the YAML file `path`, as yaml.safe_load gives it, within the bounds above."""
    text = read_text(path, what, MAX_YAML_BYTES)
    try:
        return _load(text)
    except _Refused as exc:
        raise InputError(f"{path}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise InputError(f"{path}: not valid YAML: {_clip(problem)}{where}") from None
    except yaml.YAMLError as exc:  # the reader's errors: a character YAML does not allow
        raise InputError(f"{path}: not valid YAML: {_clip(str(exc).splitlines()[0])}") from None


def _load(text: str) -> object:
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _inspect(root)
        return loader.construct_document(root)
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]


def _clip(text: str) -> str:
    limit = 4 * EXCERPT_CHARS  # room for the longest list of choices (the recipe's tasks, 205 characters)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _inspect(root: yaml.Node) -> None:
    """Refuse what safe_load would accept but no spec should: more than MAX_YAML_NODES nodes or
    MAX_YAML_DEPTH levels once aliases are expanded, an alias inside its own anchor, a key twice in
    one mapping. Iterative over the node graph, each node visited once, so the check is cheap
    whatever the expansion would be."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, depth) with aliases expanded
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            below = [sizes[id(child)] for child in _children(node)]
            size = 1 + sum(count for count, _ in below)
            depth = 1 + max((d for _, d in below), default=0)
            line = node.start_mark.line + 1
            if size > MAX_YAML_NODES:
                raise _Refused(f"expands to more than {MAX_YAML_NODES} values (aliases at line {line} and below)")
            if depth > MAX_YAML_DEPTH:
                raise _Refused(f"nested deeper than {MAX_YAML_DEPTH} levels once aliases are expanded (line {line})")
            sizes[key] = (size, depth)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise _Refused(f"an alias refers to its own anchor (line {node.start_mark.line + 1}): a recursive value")
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(node)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _refuse_duplicate_keys(node: yaml.MappingNode) -> None:
    seen: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<:` merges on purpose; the mapping's own keys override what it merges
        key, line = (key_node.tag, key_node.value), key_node.start_mark.line + 1
        if key in seen:
            raise _Refused(
                f"duplicate key {excerpt(key_node.value)} (lines {seen[key]} and {line}): give each key once"
            )
        seen[key] = line


def validation_problems(exc: ValidationError) -> list[str]:
    """One line per field that failed: its dotted location, what is wrong, a bounded excerpt."""
    errors = exc.errors()
    failed_within = {error["loc"][:n] for error in errors for n in range(len(error["loc"]))}
    # pydantic also calls a list too short when its items failed: only the items' errors matter.
    errors = [e for e in errors if not (e["type"] == "too_short" and e["loc"] in failed_within)]
    return [
        f"  {_location(error['loc'])}: {_clip(error['msg'])}"
        + (f" (got {excerpt(error['input'])})" if error["type"] != "missing" else "")
        for error in errors
    ]


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(part[:EXCERPT_CHARS] if isinstance(part, str) else str(part) for part in loc) or "(top level)"


def listed(lines: list[str]) -> str:
    """Lines of problems, bounded: the first MAX_LISTED_PROBLEMS and how many more."""
    more = len(lines) - MAX_LISTED_PROBLEMS
    return "\n".join(lines[:MAX_LISTED_PROBLEMS] + ([f"  … and {more} more"] if more > 0 else []))
