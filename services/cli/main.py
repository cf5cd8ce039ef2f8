"""The ``fraudstream`` command. Subcommands load lazily so ``--help`` stays fast.

Each subcommand lives in its own module under ``services/cli/``; register it in
``_COMMANDS`` as ``name -> "module:attribute"``.
"""

from __future__ import annotations

import logging
import sys

import click

from contracts.errors import FraudstreamError
from services.cli.lazy import LazyGroup

__all__ = ["cli", "main"]

_COMMANDS: dict[str, str] = {
    "stack": "services.cli.stack_cmd:stack",
    "simulate": "services.cli.simulate_cmd:simulate",
    "replay": "services.cli.replay_cmd:replay",
    "topics": "services.cli.topics_cmd:topics",
    "features": "services.cli.features_cmd:features",
    "bench": "services.cli.bench_cmd:bench",
    "run": "services.cli.run_cmd:run",
    "rules": "services.cli.rules_cmd:rules",
    "train": "services.cli.train_cmd:train",
    "promote": "services.cli.train_cmd:promote",
    "summary": "services.cli.summary_cmd:summary",
    "llm": "services.cli.llm_cmd:llm",
    "review": "services.cli.review_cmd:review",
    "retrain": "services.cli.retrain_cmd:retrain",
    "drift": "services.cli.retrain_cmd:drift",
}


@click.group(
    cls=LazyGroup, lazy=_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """fraudstream: real-time fraud scoring on Kafka + Redis.

    Configuration comes from (lowest to highest): built-in defaults, the local
    stack's state file (.fraudstream/stack.toml), a TOML config file
    ($FRAUDSTREAM_CONFIG or ./fraudstream.toml), and FRAUDSTREAM_* environment
    variables (FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVERS, FRAUDSTREAM_REDIS__URL, ...).
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def main() -> None:
    """Entry point that turns the project's own errors into one clear line."""
    try:
        code = cli(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except FraudstreamError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
