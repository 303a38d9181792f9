"""The offline blocklist: common passwords, and passwords made of one repeated block or one
run of the alphabet.

Defends against the first guesses of every online and offline attack: the passwords people
choose most often. NIST SP 800-63B-4 (section 3.1.1.2) requires a verifier to compare each
new password with a blocklist of commonly used, expected or compromised values. The list
ships with the package (``data/common-passwords.txt.gz``, its source and licence in
``data/README.md``) and is read once per process, on the first lookup, into a
``frozenset``: about 0.1 s and 10 MiB on a current server (docs/passwords.md).

Entries and candidates are compared in their folded form (:func:`fold`: NFKC, then
case-folded), so "PassWord1" and its full-width twin match "password1".
"""

from __future__ import annotations

import functools
import gzip
import itertools
import unicodedata
from pathlib import Path

__all__ = ["DATA_FILE", "common_passwords", "fold", "is_common", "is_repetitive"]

#: The shipped list: one folded password a line, the most common first.
DATA_FILE = Path(__file__).parent / "data" / "common-passwords.txt.gz"

#: The longest block whose repetition is refused ("abcabcabc..."): longer blocks repeated
#: are left to the length rule and the strength feedback.
MAX_REPEATED_BLOCK = 4
#: The alphabets whose runs are refused, in order; each wraps around ("...7890123",
#: "...xyzabc"), as the digits do on a keyboard's top row.
SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """``text`` in the form the blocklist and the context words are compared in: NFKC,
    case-folded, then NFKC again (case folding can leave a string that NFKC changes)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped blocklist, read on the first call and kept for the process."""
    with gzip.open(DATA_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(lines.read().splitlines())


def is_common(folded: str) -> bool:
    """Whether ``folded`` (a :func:`fold`-ed password) is on the shipped blocklist."""
    return folded in common_passwords()


def is_repetitive(folded: str) -> bool:
    """Whether ``folded`` (three characters or more) is one block of at most
    :data:`MAX_REPEATED_BLOCK` characters repeated ("aaaa", "abab", "abcabc"), or one run
    of an alphabet in :data:`SEQUENCES`, upwards or downwards ("3456789012", "zyxw")."""
    length = len(folded)
    if length < 3:
        return False
    for size in range(1, MAX_REPEATED_BLOCK + 1):
        repeats, rest = divmod(length, size)
        if repeats >= 2 and not rest and folded == folded[:size] * repeats:
            return True
    for alphabet in SEQUENCES:
        if all(char in alphabet for char in folded):
            steps = {
                (alphabet.index(b) - alphabet.index(a)) % len(alphabet)
                for a, b in itertools.pairwise(folded)
            }
            if steps in ({1}, {len(alphabet) - 1}):
                return True
    return False
