"""Money as exports write it: the one parser for amounts (spend, channel values, imported lead values).

"1200", "$1,200,000.00", "1.200.000,00 €", "1 200,50", "EUR 950", "950 USD". A comma is the
decimal separator when it comes after the last dot and is followed by one or two digits, or when
there is a dot before it ("1.200,5"); otherwise commas group thousands. Several dots and no comma
("1.200.000") group thousands too. Amounts are never negative: "-5" and "(40)" are refused.
"""

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

# The largest amount a DecimalField(max_digits=14, decimal_places=2) holds (Spend, ChannelValue, Lead).
MAX_AMOUNT = Decimal("999999999999.99")
_SIGNS = "$€£¥ \u00a0\u202f'"
# A three-letter currency code before or after the number ("EUR 950", "950 usd").
_CODE_AROUND = re.compile(r"^([A-Za-z]{3})?([^A-Za-z]*?)([A-Za-z]{3})?$")


def parse_amount(text: str) -> Decimal:
    """The amount of money in `text`, to the cent; ValidationError with a message for the user."""
    raw = "".join(ch for ch in str(text).strip() if ch not in _SIGNS)
    around = _CODE_AROUND.match(raw)
    if around is None or (around.group(1) and around.group(3)):
        raise ValidationError(f"{text!r} is not an amount of money.")
    raw = around.group(2)
    if (raw.startswith("(") and raw.endswith(")")) or raw.startswith("-"):
        raise ValidationError("An amount of money cannot be negative.")
    raw = _decimal_point(raw)
    if raw is None or not raw.lstrip("+").replace(".", "", 1).isdigit() or not raw.isascii():
        raise ValidationError(f"{text!r} is not an amount of money.")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise ValidationError(f"{text!r} is not an amount of money.") from None
    if amount > MAX_AMOUNT:
        raise ValidationError("That amount is too large.")
    return amount.quantize(Decimal("0.01"))


def _decimal_point(raw: str) -> str | None:
    """The number with "." as its only separator, or None when its separators make no sense."""
    comma, dot = raw.rfind(","), raw.rfind(".")
    if comma > dot:
        decimals = len(raw) - comma - 1
        if dot >= 0 or (raw.count(",") == 1 and decimals in (1, 2)):
            whole, fraction = raw[:comma].replace(".", ""), raw[comma + 1 :]
            return f"{whole}.{fraction}" if "," not in whole else None
        return raw.replace(",", "")
    if raw.count(".") > 1:
        return raw.replace(".", "") if comma < 0 else None
    return raw.replace(",", "")
