"""Reading numbers typed by users: one rule for "is this an id".

`str.isdigit()` is true for '²' and '①', which `int()` refuses, so a check with isdigit then
`int()` turned a superscript into a 500. Ids are ASCII digits only.
"""


def is_ascii_int(text: str | None) -> bool:
    """True when `text` is one or more ASCII digits (what `int()` reads as a plain id)."""
    return bool(text) and text.isascii() and text.isdecimal()
