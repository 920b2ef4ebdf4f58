"""leads.money.parse_amount: the one reader of money (spend, channel values, imported lead values)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from leads.money import parse_amount


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("$1,200,000.00", "1200000.00"),
        ("1200000", "1200000.00"),
        ("1.200.000,00 €", "1200000.00"),
        ("1.200.000", "1200000.00"),
        ("1 200,50", "1200.50"),
        ("12\u00a0345,6", "12345.60"),
        ("EUR 950", "950.00"),
        ("950 usd", "950.00"),
        ("£75.5", "75.50"),
        ("1,200", "1200.00"),  # a comma before three digits groups thousands
        ("1,5", "1.50"),  # before one or two digits it is the decimal comma
        ("0", "0.00"),
    ],
)
def test_money_as_exports_write_it(text, amount):
    assert parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize("text", ["-5", "(40)", "USD -5", "-€5"])
def test_negative_money_is_refused_saying_so(text):
    with pytest.raises(ValidationError, match="cannot be negative"):
        parse_amount(text)


@pytest.mark.parametrize("text", ["", "abc", "NaN", "Infinity", "1e400", "1,2,3.4.5", "EUR 5 USD", "5-", "²"])
def test_text_that_is_not_money_is_refused(text):
    with pytest.raises(ValidationError, match="not an amount of money"):
        parse_amount(text)


def test_amounts_beyond_the_stored_digits_are_refused():
    assert parse_amount("999,999,999,999.99") == Decimal("999999999999.99")
    with pytest.raises(ValidationError, match="too large"):
        parse_amount("1,000,000,000,000")
