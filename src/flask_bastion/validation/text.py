"""Text as it may enter the application: one Unicode form, no control characters.

The same word typed on two systems can arrive as two different code point sequences
(``é`` as one code point, or ``e`` and a combining accent): stored as they come, two
"equal" names, titles or addresses compare different and a uniqueness check is bypassed.
Every string is therefore normalised to NFC (canonical composition; NFKC is not used,
as it changes what text means: ``²`` would become ``2``).

Control characters have no place in text a person typed. A NUL truncates the value in C
libraries and is refused by PostgreSQL (a 500 instead of a field error); a carriage
return or a line feed in a one-line field splits log lines and headers; the bidirectional
embedding, override and isolate characters make text display in another order than the
one it is stored in (the "Trojan Source" attack), so a reviewer or a victim reads
something other than what is there. They are refused, not silently removed: silently
changing input hides the attack from the audit trail. Tab, line feed and carriage return
are allowed where a field is multi-line.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "BIDI_CONTROLS",
    "CONTROL_CHARACTER",
    "LONE_SURROGATE",
    "clean_text",
    "text_problem",
]

#: The bidirectional embedding, override and isolate controls (Unicode TR 9).
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

#: C0 and C1 controls and DEL, except tab, line feed and carriage return; and the
#: bidirectional controls.
_FORBIDDEN_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + BIDI_CONTROLS + "]")
#: The same, with tab, line feed and carriage return forbidden too, and the Unicode line
#: and paragraph separators, which :meth:`str.splitlines`, JavaScript and many log
#: viewers treat as line breaks.
_FORBIDDEN_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029" + BIDI_CONTROLS + "]")
_SURROGATE = re.compile("[\ud800-\udfff]")

CONTROL_CHARACTER = "Remove the control characters from this text."
LONE_SURROGATE = "This text is not valid Unicode."


def text_problem(value: str, *, multiline: bool = True) -> str | None:
    """Why ``value`` is refused (:data:`CONTROL_CHARACTER` or :data:`LONE_SURROGATE`), or
    ``None``. ``multiline=False`` also refuses tab, line feed, carriage return and the
    line and paragraph separators (U+2028, U+2029)."""
    # A lone surrogate is valid in a JSON string ("\ud800") and in a Python str, but it
    # cannot be encoded as UTF-8: the database driver would fail on it.
    if _SURROGATE.search(value):
        return LONE_SURROGATE
    forbidden = _FORBIDDEN_MULTILINE if multiline else _FORBIDDEN_ONE_LINE
    if forbidden.search(value):
        return CONTROL_CHARACTER
    return None


def clean_text(value: str) -> str:
    """``value`` in Unicode normalisation form NFC (call :func:`text_problem` first)."""
    # is_normalized is a fast scan; most text is already NFC.
    return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)
