"""Checking the ``next`` parameter: where to go after signing in (open redirects).

A sign-in link such as ``/login?next=https://evil.example/`` would send a user who just
proved who they are to a site of the attacker's choosing, which then asks for the password
"again". Only a path on this site is followed: it must start with a single ``/``, and the
forms browsers read as another host are refused, ``//host``, ``/\\host``, any scheme,
and the same written with percent-encoding or control characters that browsers strip.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

#: Control characters, which browsers remove from URLs before parsing them
#: (``/\t/evil.example`` is ``//evil.example``), and the backslash, which they read as
#: ``/`` in http(s) URLs.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
#: The longest ``next`` followed.
MAX_LENGTH = 2048


def safe_next(target: object) -> str | None:
    """``target`` when it is a path on this site, else ``None``.

    Refused: anything not a string or longer than :data:`MAX_LENGTH`; anything that does
    not start with exactly one ``/``; a backslash or control character, raw or
    percent-encoded (decoded repeatedly, so double encoding does not hide one); a scheme
    or a host, in any of those forms.
    """
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return None
    decoded = target
    for _ in range(3):  # %252F -> %2F -> /
        if _unsafe_path(decoded):
            return None
        once = unquote(decoded)
        if once == decoded:
            return target
        decoded = once
    return None  # still encoded after three rounds: nobody writes that in good faith


def _unsafe_path(value: str) -> bool:
    if _UNSAFE.search(value) or not value.startswith("/") or value.startswith("//"):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme or parts.netloc)
