"""Time-based one-time passwords (RFC 6238) with ``pyotp``: secrets, codes, the
enrolment URI and its QR code.

Defends against:

* **Replay.** A code observed once (over a shoulder, by a phishing proxy, in a log) must
  not sign anyone in again: :func:`verify` returns the time step it accepted, the caller
  stores it, and a code of that step or an earlier one is refused afterwards.
* **Guessing within a wide window.** Only the current step and one either side are
  accepted (clocks drift; a code typed at the end of its 30 seconds arrives in the next
  one), so a guess has 3 chances in a million. Throttling the attempts is the sign-in
  throttle's job.
* **Timing.** Every candidate code is compared with :func:`hmac.compare_digest`, and all
  of them are compared whatever the outcome, so the time taken does not tell which step,
  if any, matched.
* **Weak secrets.** :func:`new_secret` draws 160 bits (RFC 4226's recommended length)
  from :mod:`secrets`.
* **A QR code that breaks the CSP.** :func:`qr_svg` returns inline SVG with no ``style``
  attribute, no script and no external reference, so it renders under the strict
  default policy.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets

import pyotp
import segno
from markupsafe import Markup

from ..exceptions import BastionError

__all__ = [
    "DIGITS",
    "PERIOD",
    "WINDOW",
    "InvalidCode",
    "new_secret",
    "provisioning_uri",
    "qr_svg",
    "verify",
]

#: Digits of a code, seconds of a step, and steps accepted either side of the current
#: one: the values every authenticator app uses by default.
DIGITS = 6
PERIOD = 30
WINDOW = 1
#: Bytes of a new secret: 160 bits, as RFC 4226 recommends.
SECRET_BYTES = 20
_CODE_RE = re.compile(r"[0-9]{6}")


class InvalidCode(BastionError, ValueError):
    """The code is not exactly six digits, matches no accepted time step, or matches
    only a step already used (a replay). One error for every case."""

    def __init__(self) -> None:
        super().__init__("The code is not valid.")


def new_secret() -> str:
    """A new TOTP secret: 160 random bits as 32 base32 characters, no padding."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def provisioning_uri(secret: str, account_name: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI that an authenticator app reads from the QR code.

    :param account_name: what the app shows under the issuer, such as the address.
    :param issuer: the site's name; apps group and label codes by it.
    """
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
        name=account_name, issuer_name=issuer
    )


def verify(secret: str, code: object, *, last_step: int | None, now: float) -> int:
    """Check ``code`` against ``secret`` at time ``now``; the time step it matched.

    Spaces in ``code`` are ignored (``"123 456"``); it must then be exactly six ASCII
    digits. It is accepted for the current step and one step either side, except a step
    at or before ``last_step``: store the returned step and pass it next time, so that
    no code is accepted twice.

    :param last_step: the step the account last signed in with, or ``None``.
    :param now: seconds since the epoch (the caller's clock; tests pass a fixed one).
    :returns: the accepted step (``int(now) // 30``, plus or minus one).
    :raises InvalidCode: for a malformed, wrong or replayed code.
    """
    if not isinstance(code, str):
        raise InvalidCode()
    code = code.replace(" ", "")
    if not _CODE_RE.fullmatch(code):
        raise InvalidCode()
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = otp.timecode(now)
    accepted: int | None = None
    # Every candidate is computed and compared, matched or not: no early exit.
    for step in range(current - WINDOW, current + WINDOW + 1):
        matched = hmac.compare_digest(otp.generate_otp(step).encode(), code.encode())
        fresh = last_step is None or step > last_step
        if matched and fresh:
            # The latest matching step: the same six digits can then not pass again
            # for a later step of the window.
            accepted = step
    if accepted is None:
        raise InvalidCode()
    return accepted


def qr_svg(uri: str, *, title: str = "QR code for your authenticator app") -> Markup:
    """The QR code of ``uri`` as inline SVG, safe to put in a template as it is.

    Black on white (scannable on a dark page too), with a ``<title>`` for screen readers;
    colours are presentation attributes, never ``style``, and there is no XML
    declaration, script or link: it passes ``default-src 'none'``.
    """
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, border=4, dark="#000", light="#fff", title=title, svgclass="bastion-qr"
    )
    return Markup(svg)  # noqa: S704  (segno's own output; it escapes the title)
