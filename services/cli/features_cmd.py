"""``fraudstream features``: what is declared, and offline frames from history files."""

from __future__ import annotations

from pathlib import Path

import click

from services.cli.history import find_history_file, read_table

__all__ = ["features"]


@click.group()
def features() -> None:
    """Inspect the declared features; build point-in-time training frames from history."""


@features.command("list")
def list_features() -> None:
    """Print every feature the scorer serves, and the state each entity keeps."""
    from feature_store import COLD_START_FEATURES, FEATURE_NAMES
    from feature_store.definitions import LABEL_STATES, TRANSACTION_STATES

    click.echo(f"{len(FEATURE_NAMES)} features (* = used by the cold-start model):")
    for name in FEATURE_NAMES:
        click.echo(f"  {'*' if name in COLD_START_FEATURES else ' '} {name}")
    click.echo("\nstate kept per entity (key suffix versions the definition):")
    for state in (*TRANSACTION_STATES, *LABEL_STATES):
        click.echo(f"  {state.entity:9s} {state.name:20s} {state.kind}  {state.state_suffix}")


@features.command("build")
@click.option(
    "--transactions",
    "tx_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Parquet or CSV with Transaction columns (e.g. data/sim/transactions.parquet).",
)
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Parquet or CSV with Label columns (tx_id, is_fraud, source, known_at_ms, ...).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the feature frame (Parquet).",
)
def build(tx_path: Path, labels_path: Path | None, out: Path) -> None:
    """Replay history through the feature definitions: one point-in-time row per transaction."""
    from feature_store.offline import build_feature_frame

    labels = read_table(labels_path) if labels_path else None
    frame = build_feature_frame(read_table(tx_path), labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    cold = int(frame["cold_start"].sum())
    click.echo(f"wrote {len(frame):,} rows x {frame.shape[1]} columns to {out}")
    click.echo(f"{cold:,} rows are cold start (the card had no history)")


@features.command("backfill")
@click.argument("history", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--batch", default=512, show_default=True, help="Transactions per round trip.")
def backfill(history: Path, batch: int) -> None:
    """Load history (transactions.* and labels.* in HISTORY) into the online store.

    Replays transactions and labels in time order through the same engine the
    scorer uses, so a new deployment starts with card histories, first-seen
    sets and label risk instead of treating every card as new. Idempotent:
    transactions already counted are skipped by the store's dedup.
    """
    from tqdm import tqdm

    from contracts.settings import load_settings
    from feature_store import FeatureEngine
    from feature_store.offline import frame_to_labels, frame_to_transactions, replay_order
    from services.stream.wiring import redis_store

    transactions = frame_to_transactions(
        read_table(find_history_file(history, "transactions")).sort_values(
            "event_time_ms", kind="stable"
        )
    )
    labels = frame_to_labels(read_table(find_history_file(history, "labels")))
    settings = load_settings()
    store = redis_store(settings)
    engine = FeatureEngine(
        store,
        dedup_ttl_ms=settings.redis.dedup_ttl_s * 1000,
        label_dedup_ttl_ms=settings.redis.label_dedup_ttl_s * 1000,
    )
    counted = 0
    with tqdm(total=len(transactions), desc="backfill", unit="tx") as bar:
        for kind, run in replay_order(transactions, labels):
            if kind == "label":
                engine.apply_labels(run)  # type: ignore[arg-type]
                continue
            for start in range(0, len(run), batch):
                rows = engine.process(run[start : start + batch])  # type: ignore[arg-type]
                counted += sum(not row.duplicate for row in rows)
                bar.update(len(rows))
    store.close()
    click.echo(f"backfill: {counted:,} transactions counted, {len(labels):,} labels applied")
