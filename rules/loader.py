"""Read a rule set from YAML, validate all of it, and compile it.

File format::

    version: "2026.11-1"            # required, a string (quote it)
    description: "..."              # optional
    lists:                          # named lists with default members (strings; quote BINs)
      blocked_countries: [KP, IR]
      blocked_bins: []
    rules:
      - id: blocked_country         # unique; letters, digits, _ . -
        description: "..."          # optional
        when: country in list('blocked_countries')
        action: block               # allow | block | flag | tag
        reason: R_BLOCKED_COUNTRY   # reason code: upper case, digits, _
        priority: 100               # optional, default 0; higher first within an action
        mode: active                # optional: active (default) | shadow
        enabled: true               # optional, default true
        tag: some_tag               # required for action: tag, refused otherwise

Validation happens before anything is activated and reports *every* problem
(``RuleSetError.problems``), each naming the file, the rule and, for
expressions, the line and column inside the ``when`` text. Disabled rules are
validated too, so enabling one later cannot break the set.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml

from rules.exceptions import ExpressionError, RuleProblem, RuleSetError
from rules.expression import CompiledExpression, compile_expression
from rules.expression.types import Vocabulary
from rules.outcome import ACTION_RANK, RuleAction, RuleHit
from rules.ruleset import CompiledRule, Rule, RuleMode, RuleSet

__all__ = ["default_rules_text", "load_rule_set", "parse_rule_set", "rule_set_hash"]

_TOP_KEYS = frozenset({"version", "description", "lists", "rules"})
_RULE_KEYS = frozenset(
    {"id", "description", "when", "action", "reason", "priority", "mode", "enabled", "tag"}
)
_REQUIRED = ("id", "when", "action", "reason")
_MODES = ("active", "shadow")
_RULE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_REASON = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
_LIST_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TAG = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
#: A file with more rules than this is a generated list in disguise: use a named list.
MAX_RULES = 500


def default_rules_text() -> str:
    """The packaged default rule set (``rules/default_rules.yaml``)."""
    return resources.files("rules").joinpath("default_rules.yaml").read_text(encoding="utf-8")


def load_rule_set(path: str | Path, vocabulary: Vocabulary) -> RuleSet:
    """Read, validate and compile the rule set at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleSetError([RuleProblem(str(path), f"cannot read the file: {exc}")]) from exc
    return parse_rule_set(text, vocabulary, source=str(path))


def rule_set_hash(document: object) -> str:
    """12 hex digits of the SHA-256 of the parsed document (comments and layout ignored)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def parse_rule_set(text: str, vocabulary: Vocabulary, *, source: str = "<string>") -> RuleSet:
    """Validate and compile a rule set from YAML text; ``source`` names it in errors.

    Raises ``RuleSetError`` and nothing else, whatever the text: the scorer
    reloads files while it runs, and an edit must never take it down.
    """
    try:
        document, positions = _read_yaml(text)
        return _Validator(source, vocabulary, positions, text).build(document)
    except RuleSetError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (file line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleSetError([RuleProblem(source, f"not valid YAML: {problem}{where}")]) from exc
    except RecursionError as exc:
        raise RuleSetError.single(source, "nested too deeply to validate") from exc
    except Exception as exc:  # a shape the checks did not foresee: refuse it, with what broke
        raise RuleSetError.single(
            source, f"cannot be validated: {type(exc).__name__}: {exc}"
        ) from exc


@dataclass(frozen=True, slots=True)
class _Scalar:
    """Where a scalar value sits in the file: enough to turn a position inside a
    ``when`` expression into a file line."""

    line: int  # 0-based line of the value's first character (its indicator for | and >)
    column: int
    style: str | None  # None plain, "'" or '"' quoted, "|" literal, ">" folded


#: id() of each mapping of the document -> its keys' value positions.
_Positions = dict[int, dict[Any, _Scalar]]


class _RuleFileLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and remembers where values are.

    YAML's own rule for ``{a: 1, a: 2}`` is "the last wins", so an edit that
    leaves two ``action:`` keys in a rule (``block``, then ``allow``) would pass
    silently as an allow rule; a second top-level ``rules:`` would drop the first.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.positions: _Positions = {}


def _construct_mapping(loader: _RuleFileLoader, node: yaml.MappingNode) -> Iterator[dict[Any, Any]]:
    data: dict[Any, Any] = {}
    yield data
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key == "<<":
            continue
        try:
            first = seen.setdefault(key, key_node)
        except TypeError:
            continue  # unhashable: construct_mapping below says so
        if first is not key_node:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"duplicate key {key!r} (first at file line {first.start_mark.line + 1})",
                key_node.start_mark,
            )
    data.update(loader.construct_mapping(node, deep=True))
    loader.positions[id(data)] = {
        loader.construct_object(key_node, deep=True): _Scalar(
            value_node.start_mark.line,
            value_node.start_mark.column,
            getattr(value_node, "style", None),
        )
        for key_node, value_node in node.value
        if isinstance(value_node, yaml.ScalarNode)
    }


_RuleFileLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _read_yaml(text: str) -> tuple[Any, _Positions]:
    loader = _RuleFileLoader(text)
    try:
        return loader.get_single_data(), loader.positions
    finally:
        loader.dispose()


def _file_position(text: str, value: _Scalar, line: int, column: int) -> tuple[int, int] | None:
    """The 1-based file line and column of (``line``, ``column``) inside a ``when`` value.

    A plain or quoted value starts where its node does. A block value starts on
    the line after its indicator: ``|`` keeps its lines, ``>`` folds them into one
    with single spaces, so a column is walked back through the source lines.
    None when the place cannot be traced (e.g. past the first line of a plain
    value that spans lines).
    """
    lines = text.splitlines()
    if value.style not in ("|", ">"):
        quote = 1 if value.style in ("'", '"') else 0
        first = lines[value.line][value.column + quote :] if value.line < len(lines) else ""
        if line == 1 and column <= len(first):
            return value.line + 1, value.column + quote + column
        return None
    block = _block_lines(lines, value.line + 1)
    if value.style == "|":
        if line > len(block):
            return None
        number = block[line - 1][0]
        return number + 1, block[0][1] + column  # (the block's indentation is not content)
    offset = column - 1
    for number, indent, piece in block:
        if offset <= len(piece):
            return number + 1, indent + offset + 1
        offset -= len(piece) + 1
    return None


def _same_character(text: str, found: tuple[int, int], when: str, error: ExpressionError) -> bool:
    """Whether the file holds, at ``found``, the character the error points at."""
    expression_lines = when.splitlines() or [""]
    if error.line > len(expression_lines) or error.column > len(expression_lines[error.line - 1]):
        return True  # the end of the expression: nothing to compare
    file_lines = text.splitlines()
    line, column = found
    if line > len(file_lines) or column > len(file_lines[line - 1]):
        return False
    wanted = expression_lines[error.line - 1][error.column - 1]
    return file_lines[line - 1][column - 1] == wanted


def _block_lines(lines: list[str], start: int) -> list[tuple[int, int, str]]:
    """(0-based line, indentation, text) of a block scalar's lines from ``start``:
    up to the first line indented less than the first one."""
    block: list[tuple[int, int, str]] = []
    for number in range(start, len(lines)):
        stripped = lines[number].strip()
        indent = len(lines[number]) - len(lines[number].lstrip())
        if not stripped or (block and indent < block[0][1]):
            break
        block.append((number, indent, stripped))
    return block


class _Validator:
    def __init__(
        self, source: str, vocabulary: Vocabulary, positions: _Positions, text: str = ""
    ) -> None:
        self.source = source
        self.vocabulary = vocabulary
        self.positions = positions
        self.text = text
        self.problems: list[RuleProblem] = []

    def problem(self, text: str, rule_id: str | None = None, field: str | None = None) -> None:
        self.problems.append(RuleProblem(self.source, text, rule_id=rule_id, field=field))

    def build(self, document: Any) -> RuleSet:
        if not isinstance(document, dict):
            raise RuleSetError([RuleProblem(self.source, "the file must be a YAML mapping")])
        for key in sorted(set(document) - _TOP_KEYS, key=str):
            self.problem(f"unknown top-level key {key!r} (expected {', '.join(sorted(_TOP_KEYS))})")
        version = document.get("version")
        if not isinstance(version, str) or not version.strip():
            self.problem('`version` is required and must be a string (quote it: version: "1.0")')
            version = ""
        description = document.get("description", "")
        if not isinstance(description, str):
            self.problem("`description` must be a string")
        lists = self.lists(document.get("lists", {}))
        raw_rules = document.get("rules")
        if not isinstance(raw_rules, list) or not raw_rules:
            self.problem("`rules` is required and must be a non-empty list")
            raw_rules = []
        if len(raw_rules) > MAX_RULES:
            self.problem(f"{len(raw_rules)} rules; the limit is {MAX_RULES} (use a named list)")
        compiled: list[CompiledRule] = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_rules):
            rule = self.rule(index, raw, lists)
            if rule is None:
                continue
            if rule.rule.id in seen:
                self.problem("duplicate rule id", rule.rule.id)
            seen.add(rule.rule.id)
            compiled.append(rule)
        if self.problems:
            raise RuleSetError(self.problems)
        return RuleSet(
            declared_version=version.strip(),
            content_hash=rule_set_hash(document),
            source=self.source,
            rules=tuple(compiled),
            lists=lists,
            description=description if isinstance(description, str) else "",
        )

    def lists(self, raw: Any) -> dict[str, frozenset[str]]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem("`lists` must be a mapping of list name to members")
            return {}
        lists: dict[str, frozenset[str]] = {}
        for name, members in raw.items():
            if not isinstance(name, str) or not _LIST_NAME.fullmatch(name):
                self.problem(f"list name {name!r} must match {_LIST_NAME.pattern}")
                continue
            if members is None:
                members = []
            if not isinstance(members, list):
                self.problem(f"list {name!r} must be a YAML list of strings")
                continue
            bad = [m for m in members if not isinstance(m, str)]
            if bad:
                self.problem(
                    f"list {name!r} has non-string members {bad[:3]!r}: quote them "
                    "('411111', not 411111: YAML would read numbers, and drop leading zeros)"
                )
                continue
            lists[name] = frozenset(members)
        return lists

    def rule(
        self, index: int, raw: Any, lists: Mapping[str, frozenset[str]]
    ) -> CompiledRule | None:
        if not isinstance(raw, dict):
            self.problem(f"rules[{index}] must be a mapping")
            return None
        rule_id = raw.get("id")
        label = rule_id if isinstance(rule_id, str) else f"rules[{index}]"
        before = len(self.problems)
        for key in sorted(set(raw) - _RULE_KEYS, key=str):
            self.problem(f"unknown key {key!r}", label)
        for key in _REQUIRED:
            if key not in raw:
                self.problem(f"`{key}` is required", label)
        if "id" in raw and not (isinstance(rule_id, str) and _RULE_ID.fullmatch(rule_id)):
            self.problem(f"id must match {_RULE_ID.pattern}", label)
        action = raw.get("action")
        if "action" in raw and not (isinstance(action, str) and action in ACTION_RANK):
            self.problem(f"unknown action {action!r} (known: {', '.join(ACTION_RANK)})", label)
        reason = raw.get("reason")
        if "reason" in raw and not (isinstance(reason, str) and _REASON.fullmatch(reason)):
            self.problem(f"reason must be a code matching {_REASON.pattern}", label)
        priority = raw.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool):
            self.problem("priority must be an integer", label)
        mode = raw.get("mode", "active")
        if not (isinstance(mode, str) and mode in _MODES):
            self.problem(f"mode must be one of {', '.join(_MODES)}, not {mode!r}", label)
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            self.problem("enabled must be true or false", label)
        description = raw.get("description", "")
        if not isinstance(description, str):
            self.problem("description must be a string", label)
        tag = raw.get("tag")
        if action == "tag" and not (isinstance(tag, str) and _TAG.fullmatch(tag)):
            self.problem(f"action tag needs a `tag` matching {_TAG.pattern}", label)
        if action != "tag" and tag is not None:
            self.problem("`tag` is only for action: tag", label)
        when = raw.get("when")
        condition = None
        if "when" in raw:
            if not isinstance(when, str) or not when.strip():
                self.problem("`when` must be a non-empty expression string", label)
            else:
                condition = self.condition(when, label, lists, self.positions.get(id(raw), {}))
        if len(self.problems) > before or condition is None:
            return None
        rule = Rule(
            id=cast(str, rule_id),
            when=cast(str, when),
            action=cast(RuleAction, action),
            reason=cast(str, reason),
            description=cast(str, description),
            priority=cast(int, priority),
            mode=cast(RuleMode, mode),
            enabled=cast(bool, enabled),
            tag=cast("str | None", tag),
        )
        hit = RuleHit(rule.id, rule.action, rule.reason, rule.mode == "shadow", rule.priority, tag)
        return CompiledRule(rule, condition, hit)

    def condition(
        self,
        when: str,
        label: str,
        lists: Mapping[str, frozenset[str]],
        positions: Mapping[Any, _Scalar],
    ) -> CompiledExpression | None:
        try:
            return compile_expression(when, self.vocabulary, lists=lists.keys())
        except ExpressionError as exc:
            value = positions.get("when")
            found = (
                None if value is None else _file_position(self.text, value, exc.line, exc.column)
            )
            if found is not None and not _same_character(self.text, found, when, exc):
                found = None  # escapes in a quoted value shift columns: say nothing wrong
            self.problems.append(
                RuleProblem(
                    self.source,
                    exc.problem,
                    rule_id=label,
                    field="when",
                    line=exc.line,
                    column=exc.column,
                    file_line=None if found is None else found[0],
                    file_column=None if found is None else found[1],
                )
            )
            return None
