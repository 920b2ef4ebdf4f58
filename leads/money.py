"""Money as exports write it: the one parser for amounts (spend, channel values, imported lead values).

"1200", "$1,200,000.00", "1.200.000,00 €", "1 200,50", "EUR 950", "950 USD". A comma is the
decimal separator when it comes after the last dot and is followed by one or two digits, or when
there is a dot before it ("1.200,5"); otherwise commas group thousands. Several dots and no comma
("1.200.000") group thousands too. Amounts are never negative: "-5" and "(40)" are refused.
"""

import re
from decimal import Decimal

from django.core.exceptions import ValidationError

# The largest amount a DecimalField(max_digits=14, decimal_places=2) holds (Spend, ChannelValue, Lead).
MAX_AMOUNT = Decimal("999999999999.99")
_CENT = Decimal("0.01")
_SIGNS = str.maketrans("", "", "$€£¥ \u00a0\u202f'")  # removed: currency signs, spaces, apostrophes
_PLAIN = re.compile(r"\d+(?:\.\d{1,2})?", re.ASCII)  # "1200", "75.5": most cells, read without the rules below
# A three-letter currency code before or after the number ("EUR 950", "950 usd").
_CODE_AROUND = re.compile(r"^([A-Za-z]{3})?([^A-Za-z]*?)([A-Za-z]{3})?$")


def parse_amount(text: str, *, decimal_comma: bool = False) -> Decimal:
    """The amount of money in `text`, to the cent; ValidationError with a message for the user.

    `decimal_comma`: the amount comes from a column whose amounts write the decimals after a
    comma (decimal_mark), so a dot groups thousands even where one amount alone would not say so:
    "1.200" is 1200, as its neighbour "1.200.000,50" says."""
    raw = str(text).strip().translate(_SIGNS)
    if decimal_comma:
        raw = raw.replace(".", "").replace(",", ".")
    if _PLAIN.fullmatch(raw) is None:
        raw = _amount_text(raw, text)
    amount = Decimal(raw)
    if amount > MAX_AMOUNT:
        raise ValidationError("That amount is too large.")
    return amount.quantize(_CENT)


def decimal_mark(text: str) -> str:
    """The decimal mark an amount shows: "," (1.200,50  12,5  1.200.000), "." (1,200.50  12.5
    1,200,000), "" when it has none or could be read either way (1200, 1.200, 1,200)."""
    raw = str(text).strip().translate(_SIGNS)
    comma, dot = raw.rfind(","), raw.rfind(".")
    if comma > dot:
        if dot >= 0:
            return ","
        if raw.count(",") > 1:
            return "."
        return "" if len(raw) - comma - 1 == 3 else ","
    if dot < 0:
        return ""
    if comma >= 0:
        return "."
    if raw.count(".") > 1:
        return ","
    return "" if len(raw) - dot - 1 == 3 else "."


def _amount_text(raw: str, text: str) -> str:
    """The number in `raw` (currency signs and spaces removed) as Decimal reads it, or ValidationError."""
    if raw[:1].isalpha() or raw[-1:].isalpha():
        around = _CODE_AROUND.match(raw)
        if around is None or (around.group(1) and around.group(3)):
            raise ValidationError(f"{text!r} is not an amount of money.")
        raw = around.group(2)
    if (raw.startswith("(") and raw.endswith(")")) or raw.startswith("-"):
        raise ValidationError("An amount of money cannot be negative.")
    number = _decimal_point(raw)
    if number is None or not number.lstrip("+").replace(".", "", 1).isdigit() or not number.isascii():
        raise ValidationError(f"{text!r} is not an amount of money.")
    return number


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
