"""``fraudstream rules``: validate and try rule sets, change the run-time lists.

Register in ``services/cli/main.py``: ``"rules": "services.cli.rules_cmd:rules"``.
Heavy imports happen inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rules.expression.types import Vocabulary
    from rules.lists.kinds import ListKind
    from rules.lists.redis import RedisListStore
    from rules.ruleset import RuleSet

__all__ = ["rules"]

_FILE = click.argument(
    "file",
    required=False,
    type=click.Path(dir_okay=False, path_type=Path),
)


def _vocabulary() -> Vocabulary:
    from feature_store.derive import FEATURE_NAMES
    from rules.schema import rule_vocabulary

    return rule_vocabulary(FEATURE_NAMES)


def _load(file: Path | None) -> RuleSet:
    """The rule set in ``file`` (the packaged default without one); problems -> exit 1."""
    from rules.exceptions import RuleSetError
    from rules.loader import default_rules_text, load_rule_set, parse_rule_set

    try:
        if file is None:
            return parse_rule_set(default_rules_text(), _vocabulary(), source="<default rules>")
        return load_rule_set(file, _vocabulary())
    except RuleSetError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def rules() -> None:
    """Validate and try rule sets; change the named lists at run time.

    FILE arguments default to the packaged rule set (rules/default_rules.yaml).
    Rule names are flat: transaction fields (amount, country, channel, card_bin,
    device_id, ip, ...), the feature store's features (card_count_10m,
    card_new_device, ip_cards_1h, ...), score and cold_start.
    """


@rules.command()
@_FILE
def check(file: Path | None) -> None:
    """Validate FILE: print its version and rules, or every problem and exit 1.

    Each problem names the file, the rule and, inside `when`, the line and
    column (1-based, within the expression).
    """
    rule_set = _load(file)
    click.echo(f"{rule_set.source}: version {rule_set.version}, {len(rule_set.rules)} rules")
    for name, members in sorted(rule_set.lists.items()):
        kind = rule_set.list_kind(name)
        click.echo(f"  list {name:<24} {len(members):>5} default members  ({kind})")
    click.echo(f"  {'id':<28} {'action':<6} {'prio':>5}  {'mode':<8} reason")
    for line in rule_set.describe():
        click.echo(f"  {line}")


def _parse_context(raw: str) -> dict[str, Any]:
    text = Path(raw[1:]).read_text(encoding="utf-8") if raw.startswith("@") else raw
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--context") from exc
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--context")
    return value


@rules.command()
@_FILE
@click.option(
    "--context",
    "context_json",
    required=True,
    help="One transaction's names and values as a JSON object, or @file.json. "
    'Example: \'{"amount": 1.5, "channel": "ecom", "device_cards_1h": 6}\'. '
    "Absent names are missing.",
)
@click.option(
    "--flag-threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Score threshold for flag in the policy line (used when the context has a score).",
)
@click.option(
    "--block-threshold",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="Score threshold for block in the policy line.",
)
@click.option(
    "--redis-lists",
    is_flag=True,
    help="Add the run-time lists from Redis to the file's defaults (else defaults only).",
)
def test(
    file: Path | None,
    context_json: str,
    flag_threshold: float,
    block_threshold: float,
    redis_lists: bool,
) -> None:
    """Evaluate FILE's rules on one context and print the hits and the outcome."""
    from rules.policy import Thresholds, decide

    rule_set = _load(file)
    context = _parse_context(context_json)
    unknown = sorted(set(context) - set(_vocabulary().types))
    if unknown:
        click.echo(f"warning: names no rule can use: {', '.join(unknown)}", err=True)
    runtime = None
    if redis_lists:
        store = _store()
        try:
            runtime = store.snapshot()
        finally:
            store.close()
    outcome = rule_set.evaluate(context, runtime)
    click.echo(f"rule set {rule_set.version}")
    if not outcome.hits:
        click.echo("no rule fired")
    for hit in outcome.hits:
        mark = "  (shadow: reported only)" if hit.shadow else ""
        tag = f" tag={hit.tag}" if hit.tag else ""
        click.echo(f"  hit {hit.rule_id:<28} {hit.action:<6} {hit.reason}{tag}{mark}")
    for rule_id in outcome.errors:
        click.echo(f"  error in {rule_id}: a value has the wrong type", err=True)
    reasons = ", ".join(outcome.reasons)
    click.echo(f"rules: {outcome.action or 'no decision'}" + (f" ({reasons})" if reasons else ""))
    if outcome.tags:
        click.echo(f"tags: {', '.join(outcome.tags)}")
    score = context.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        if flag_threshold > block_threshold:
            raise click.BadParameter("--flag-threshold must not exceed --block-threshold")
        decision = decide(
            float(score),
            Thresholds(flag=flag_threshold, block=block_threshold),
            cold_start=bool(context.get("cold_start", False)),
            outcome=outcome,
        )
        click.echo(f"policy: {decision.action} ({', '.join(decision.reasons) or 'no reason'})")


@rules.command()
@_FILE
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="How long to time each mode.",
)
def bench(file: Path | None, seconds: float) -> None:
    """Time FILE's rules: microseconds per evaluation (best round), single and batched."""
    from feature_store.derive import FEATURE_NAMES
    from rules.bench import bench_rule_set, default_bench_contexts

    rule_set = _load(file)
    timings = bench_rule_set(rule_set, default_bench_contexts(FEATURE_NAMES), seconds=seconds)
    click.echo(
        f"{rule_set.version}: {len(rule_set.rules)} rules, "
        f"{timings['single']:.2f} µs per evaluation, {timings['batch']:.2f} µs batched"
    )


# -- lists ----------------------------------------------------------------------------


def _store() -> RedisListStore:
    from contracts.settings import load_settings
    from rules.lists.redis import RedisListStore

    return RedisListStore.from_settings(load_settings().redis)


@rules.group()
def lists() -> None:
    """Change the named lists in Redis; running scorers pick changes up within seconds.

    Lists live under <redis.key_prefix>:{lists}:... in the Redis of the settings
    (stack file, config file or FRAUDSTREAM_REDIS__URL). At evaluation a list is
    the rule file's default members plus these.

    add and remove check NAME and VALUES against the rule file the scorers run
    (--rules, as `run scorer --rules`; default: the packaged rule set): NAME must
    be a list it declares, and a list that a rule checks `ip` or `country`
    against takes only IP addresses (stored in one spelling, 2001:db8::1) or
    two-letter country codes (upper-cased).
    """


_RULES_OPTION = click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The rule set the scorers run (as `run scorer --rules`; default: the packaged one).",
)
_ALLOW_UNKNOWN_OPTION = click.option(
    "--allow-unknown",
    is_flag=True,
    help="Write a list the rule file does not declare (no rule reads it until one does).",
)


def _list_kind(rule_set: RuleSet, name: str, allow_unknown: bool) -> ListKind:
    """NAME's kind in ``rule_set``; an undeclared name is refused (a typo blocks nothing)."""
    from rules.lists.kinds import ListKind

    if name in rule_set.lists:
        return rule_set.list_kind(name)
    if allow_unknown:
        return ListKind.TEXT
    known = ", ".join(sorted(rule_set.lists)) or "none"
    raise click.BadParameter(
        f"list {name!r} is not declared in {rule_set.source} (its lists: {known}); "
        "check the spelling, pass --rules with the scorers' rule file, "
        "or --allow-unknown to write it anyway",
        param_hint="NAME",
    )


def _members(command: str, kind: ListKind, name: str, values: tuple[str, ...]) -> list[str]:
    """VALUES as the list stores them; ``ValueError`` for one an added member can never be."""
    from rules.lists.kinds import normalise_members, normalised_member

    if command == "remove":
        # Each value as written and in its stored spelling: members stored before
        # these checks (`ru`, `2001:DB8::1`) must be removable too, and removing
        # blocks nothing.
        spellings = [(value, normalised_member(kind, value)) for value in values]
        return list(dict.fromkeys(s for pair in spellings for s in pair if s is not None))
    return normalise_members(kind, name, values)


def _change(
    command: str, name: str, values: tuple[str, ...], rules_path: Path | None, allow_unknown: bool
) -> None:
    from rules.lists.base import check_list_name

    # Everything is checked before Redis is touched: a refused command writes nothing.
    try:
        check_list_name(name)
        kind = _list_kind(_load(rules_path), name, allow_unknown)
        members = _members(command, kind, name, values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if command == "add":
        for written, stored in zip(values, members, strict=True):
            if written != stored:
                click.echo(f"{name}: {written!r} is stored as {stored!r}")
    store = _store()
    try:
        changed = getattr(store, command)(name, members)
        click.echo(f"{name}: {command} {changed} of {len(values)}; version {store.version()}")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    finally:
        store.close()


@lists.command()
@click.argument("name")
@click.argument("values", nargs=-1, required=True)
@_RULES_OPTION
@_ALLOW_UNKNOWN_OPTION
def add(name: str, values: tuple[str, ...], rules_path: Path | None, allow_unknown: bool) -> None:
    """Add VALUES to list NAME, as in `add blocked_countries KP IR`."""
    _change("add", name, values, rules_path, allow_unknown)


@lists.command()
@click.argument("name")
@click.argument("values", nargs=-1, required=True)
@_RULES_OPTION
@_ALLOW_UNKNOWN_OPTION
def remove(
    name: str, values: tuple[str, ...], rules_path: Path | None, allow_unknown: bool
) -> None:
    """Remove VALUES from list NAME; a rule file's default members stay."""
    _change("remove", name, values, rules_path, allow_unknown)


@lists.command()
@click.argument("name", required=False)
def show(name: str | None) -> None:
    """Print the members of NAME, or every list with its size and the version."""
    store = _store()
    try:
        if name is not None:
            try:
                members = store.members(name)
            except ValueError as exc:
                raise click.BadParameter(str(exc)) from exc
            for member in sorted(members):
                click.echo(member)
            return
        snapshot = store.snapshot()
        click.echo(f"lists version {snapshot.version}")
        for list_name, values in sorted(snapshot.items()):
            click.echo(f"  {list_name:<28} {len(values):>6} members")
    finally:
        store.close()
