"""Plain words for the scorer's features and reason codes, for prompts and templates.

Each feature gets a short description (what the number means) and, where one
helps, the check an analyst would make when that feature drives a case. A
feature missing here is described by its own name: a new feature never breaks
an explanation, it only reads less well until it is described.
"""

from __future__ import annotations

__all__ = ["BINARY_FEATURES", "MONEY_FEATURES", "describe_feature", "feature_check"]

_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "amount": ("the payment amount", "confirm the payment with the customer"),
    "hour_of_day": ("the hour of the payment (UTC)", ""),
    "day_of_week": ("the weekday, Monday = 0", ""),
    "is_ecom": ("an online payment", ""),
    "is_atm": ("a cash withdrawal", ""),
    "is_transfer": ("an account transfer", "check the payee with the customer"),
    "account_age_days": ("days since the account was opened", "check the new account's identity"),
    "card_count_10m": ("payments on the card in 10 minutes", "look for a burst of small tests"),
    "card_sum_10m": ("amount on the card in 10 minutes", "look for a burst of small tests"),
    "card_count_1h": ("payments on the card in the last hour", "review the card's last hour"),
    "card_sum_1h": ("amount on the card in the last hour", "review the card's last hour"),
    "card_count_24h": ("payments on the card in 24 hours", "review the card's last day"),
    "card_sum_24h": ("amount on the card in 24 hours", "review the card's last day"),
    "card_count_7d": ("payments on the card in 7 days", ""),
    "card_sum_7d": ("amount on the card in 7 days", ""),
    "card_count_30d": ("payments on the card in 30 days", ""),
    "card_mean_30d": ("the card's average payment over 30 days", ""),
    "card_max_30d": ("the card's largest payment over 30 days", ""),
    "amount_to_card_mean_30d": (
        "amount divided by the card's 30-day average",
        "compare with the card's usual spending",
    ),
    "amount_to_card_max_30d": (
        "amount divided by the card's 30-day maximum",
        "compare with the card's usual spending",
    ),
    "card_history_count": ("payments the card has made so far", ""),
    "card_age_days": ("days since the card was first seen", ""),
    "card_seconds_since_prev": ("seconds since the card's previous payment", ""),
    "card_km_from_prev": ("km from the card's previous payment", "check where the customer is"),
    "card_speed_kmh": ("travel speed implied since the previous payment, km/h",
                       "check where the customer is"),
    "card_hour_share": ("share of the card's payments at this hour", ""),
    "card_new_device": ("first payment from this device", "confirm the device with the customer"),
    "card_new_ip": ("first payment from this IP address", "check the IP address"),
    "card_new_country": ("first payment in this country", "check where the customer is"),
    "card_new_merchant": ("first payment at this merchant", ""),
    "card_devices_30d": ("devices the card used in 30 days",
                         "confirm the devices with the customer"),
    "card_ips_30d": ("IP addresses the card used in 30 days", ""),
    "card_countries_30d": ("countries the card was used in over 30 days", ""),
    "customer_count_1h": ("payments by the customer in the last hour", ""),
    "customer_sum_1h": ("amount paid by the customer in the last hour", ""),
    "customer_count_24h": ("payments by the customer in 24 hours", ""),
    "customer_sum_24h": ("amount paid by the customer in 24 hours", ""),
    "customer_new_payee": ("first transfer to this payee", "call the customer about the payee"),
    "device_count_1h": ("payments from the device in the last hour", ""),
    "device_count_24h": ("payments from the device in 24 hours", ""),
    "device_cards_1h": ("cards used on the device in the last hour",
                        "look for other cards on this device"),
    "device_cards_24h": ("cards used on the device in 24 hours",
                         "look for other cards on this device"),
    "ip_count_1h": ("payments from the IP address in the last hour", ""),
    "ip_count_24h": ("payments from the IP address in 24 hours", ""),
    "ip_cards_1h": ("cards used from the IP address in the last hour",
                    "look for other cards from this IP address"),
    "ip_cards_24h": ("cards used from the IP address in 24 hours",
                     "look for other cards from this IP address"),
    "merchant_count_1h": ("payments at the merchant in the last hour", ""),
    "merchant_count_24h": ("payments at the merchant in 24 hours", ""),
    "merchant_sum_24h": ("amount paid at the merchant in 24 hours", ""),
    "merchant_cards_24h": ("cards used at the merchant in 24 hours", "review the merchant"),
    "device_fraud_rate": ("confirmed fraud rate of the device", "check the device's fraud cases"),
    "device_labels_30d": ("labelled payments from the device in 30 days", ""),
    "ip_fraud_rate": ("confirmed fraud rate of the IP address", "check the IP's fraud cases"),
    "ip_labels_30d": ("labelled payments from the IP address in 30 days", ""),
    "merchant_fraud_rate": ("confirmed fraud rate of the merchant", "review the merchant"),
    "merchant_labels_30d": ("labelled payments at the merchant in 30 days", ""),
}  # fmt: skip

#: Features whose value is a yes/no flag (written "yes" / "no", not 1 / 0).
BINARY_FEATURES = frozenset(
    {
        "is_ecom", "is_atm", "is_transfer", "card_new_device", "card_new_ip",
        "card_new_country", "card_new_merchant", "customer_new_payee",
    }
)  # fmt: skip
#: Features that are amounts of money (written with two decimals).
MONEY_FEATURES = frozenset(
    {
        "amount", "card_sum_10m", "card_sum_1h", "card_sum_24h", "card_sum_7d",
        "card_mean_30d", "card_max_30d", "customer_sum_1h", "customer_sum_24h",
        "merchant_sum_24h",
    }
)  # fmt: skip


def describe_feature(name: str) -> str:
    """What the feature measures, in a few words (its name when undescribed)."""
    entry = _DESCRIPTIONS.get(name)
    return entry[0] if entry else name.replace("_", " ")


def feature_check(name: str) -> str:
    """The check an analyst makes when this feature drives a case ("" when none is typical)."""
    entry = _DESCRIPTIONS.get(name)
    return entry[1] if entry else ""
