"""Built-in column layouts of well-known public fraud datasets.

A preset is data: which file column feeds which ``Transaction`` field, what
can be derived from other columns, the defaults the dataset implies, its
label column. Options on the command line override every part of it.

To add a preset: write a ``Preset`` below, put it in ``PRESETS``, and add a
few rows of the layout as a fixture in ``tests/services/data/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.replay.cells import cell_text
from services.replay.exceptions import ReplayInputError

if TYPE_CHECKING:  # pandas is imported by the functions that run, not by the CLI
    import pandas as pd

__all__ = ["PRESETS", "SPARKOV", "Derivation", "Preset", "preset_named"]

#: Computes a field from the raw file; ``None`` where it cannot be derived for a row.
Derivation = Callable[["pd.DataFrame"], "pd.Series | None"]


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    #: Transaction field -> file column. Columns missing from a file are skipped.
    columns: Mapping[str, str]
    #: Transaction field -> derivation from the raw frame (used where no column maps).
    derived: Mapping[str, Derivation] = field(default_factory=dict)
    country: str | None = None
    currency: str | None = None
    channel: str | None = None
    label_column: str | None = None
    rebase_now: bool = False


# Sparkov's categories -> the closest ISO 18245 merchant category code.
_SPARKOV_MCC = {
    "entertainment": "7999",  # recreation services
    "food_dining": "5812",  # eating places, restaurants
    "gas_transport": "5541",  # service stations
    "grocery_net": "5411",  # grocery stores, supermarkets
    "grocery_pos": "5411",
    "health_fitness": "7997",  # clubs, athletic and fitness
    "home": "5712",  # furniture, home furnishings
    "kids_pets": "5945",  # hobby, toy and game shops
    "misc_net": "5999",  # miscellaneous retail
    "misc_pos": "5999",
    "personal_care": "7230",  # beauty and barber shops
    "shopping_net": "5311",  # department stores
    "shopping_pos": "5311",
    "travel": "4722",  # travel agencies, tour operators
}


def _sparkov_mcc(raw: pd.DataFrame) -> pd.Series | None:
    if "category" not in raw.columns:
        return None
    return raw["category"].astype("object").str.strip().str.lower().map(_SPARKOV_MCC)


def _sparkov_channel(raw: pd.DataFrame) -> pd.Series | None:
    # The generator marks card-not-present spend with a `_net` suffix and card-present
    # spend with `_pos`; the other categories do not say, so the default channel applies.
    if "category" not in raw.columns:
        return None
    category = raw["category"].astype("object").str.strip().str.lower()
    channel = category.where(~category.str.endswith("_net", na=False), "ecom")
    channel = channel.where(~category.str.endswith("_pos", na=False), "pos")
    return channel.where(channel.isin(["ecom", "pos"]), None)


def _sparkov_card_bin(raw: pd.DataFrame) -> pd.Series | None:
    # cc_num is a synthetic card number; its first six digits are the issuer's BIN.
    if "cc_num" not in raw.columns:
        return None
    digits = raw["cc_num"].astype("object").map(cell_text)
    looks_like_pan = digits.str.fullmatch(r"[0-9]{12,19}", na=False)
    return digits.str.slice(0, 6).where(looks_like_pan, None)


SPARKOV = Preset(
    name="sparkov",
    description=(
        'Kaggle "Credit Card Transactions Fraud Detection" (kartik2112/fraud-detection, '
        "fraudTrain.csv / fraudTest.csv, generated with Sparkov). US cards in USD; "
        "times 2019-2020 lie before the contract's 2020-01-01 floor, so this preset "
        "rebases the history to end now unless --no-rebase-now. Merchant names carry a "
        "`fraud_` prefix on every row: an artefact of the generator, not a label."
    ),
    columns={
        # trans_date_trans_time is the real timestamp; unix_time is offset by years.
        "event_time_ms": "trans_date_trans_time",
        "card_id": "cc_num",
        "amount": "amt",
        "merchant_id": "merchant",
        "tx_id": "trans_num",
        # lat/long are the cardholder's home; a payment happens at the merchant.
        "lat": "merch_lat",
        "lon": "merch_long",
    },
    derived={"mcc": _sparkov_mcc, "channel": _sparkov_channel, "card_bin": _sparkov_card_bin},
    country="US",
    currency="USD",
    label_column="is_fraud",
    rebase_now=True,
)

PRESETS: dict[str, Preset] = {preset.name: preset for preset in (SPARKOV,)}


def preset_named(name: str | None) -> Preset | None:
    if name is None:
        return None
    try:
        return PRESETS[name]
    except KeyError:
        raise ReplayInputError(
            f"unknown preset {name!r}; built-in presets: {', '.join(sorted(PRESETS))}"
        ) from None
