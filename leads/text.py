"""Text hygiene shared by every door (file imports, the API, the CRM's forms).

Control characters (other than tab and newlines) and the Unicode bidirectional overrides and
isolates are removed from text a user or a file supplies: they are invisible on screen, can
reorder what a reader sees (a name ending in U+202E shows its tail reversed) and break exports.
"""

import re

# C0 controls except \t \n \r, DEL, C1 controls, bidi embeddings/overrides/isolates and marks.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str) -> str:
    """The text without control characters and bidi overrides (tab and newlines kept)."""
    return _UNSAFE.sub("", value)


def has_unsafe_characters(value: str) -> bool:
    return _UNSAFE.search(value) is not None


_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text_problem(value: str) -> str | None:
    """Why text typed into a form is refused, beside its field (the same characters clean_text
    removes from files and the API): None when there is nothing to refuse."""
    found = _UNSAFE.search(value)
    if found is None:
        return None
    char = found.group()
    if char in _BIDI:
        return f"Remove the invisible direction-changing character U+{ord(char):04X}."
    return f"Remove the control character U+{ord(char):04X}."
