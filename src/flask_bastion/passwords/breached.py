"""The breached-password check: a k-anonymity lookup in a range API.

Defends against credential stuffing with passwords that leaked from other sites: NIST SP
800-63B-4 (section 3.1.1.2) lists "passwords obtained from previous breach corpuses" among
the values a verifier must refuse. The check speaks the ``range`` protocol of Have I Been
Pwned's Pwned Passwords (and of the mirrors and self-hosted copies that serve it): only the
first five hexadecimal digits of the password's SHA-1 leave the server, and the answer lists
every suffix of that range with its count, so the service never learns the password nor
whether it was found. ``Add-Padding: true`` asks for a padded answer (extra suffixes with a
count of 0, ignored here) so that the size of the response does not tell an eavesdropper
which range was asked for.

Only ``https://`` URLs are accepted, and ``http://`` to a loopback host (a local mirror, or
a test server). Redirects are never followed: an HTTPS lookup must not be sent elsewhere.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException

from .hashing import PasswordError

__all__ = ["BreachedCheckFailed", "BreachedPasswords", "check_range_url"]

#: The largest answer read, in bytes. A real answer is about 1,000 lines of 40 bytes
#: (padded); a server sending more is not a range API.
MAX_RESPONSE_BYTES = 1024 * 1024
_LINE_RE = re.compile(r"([0-9A-F]{35}):([0-9]{1,12})")
_LOOPBACK_NAMES = ("localhost",)


class BreachedCheckFailed(PasswordError):
    """The range API could not be asked or gave an answer that is not a range: timed
    out, refused the connection, answered with an error status or a malformed body."""


def check_range_url(url: str) -> str:
    """``url`` without a trailing ``/`` when it may be asked for ranges: ``https://``, or
    ``http://`` to a loopback host (``127.0.0.0/8``, ``[::1]``, ``localhost``).

    :raises ValueError: for any other URL.
    """
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or not parts.hostname or parts.query or parts.fragment:
        raise ValueError("expected a URL such as 'https://api.pwnedpasswords.com/range'")
    if parts.username is not None or parts.password is not None:
        raise ValueError("expected a URL without credentials")
    if parts.scheme == "https":
        return url.rstrip("/")
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return url.rstrip("/")
    raise ValueError("expected an https:// URL (http:// only to a loopback host)")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises HTTPError for the 3xx


class BreachedPasswords:
    """Ask a range API whether a password appears in a breach corpus.

    :param url: the range endpoint; the five-digit prefix is appended after a ``/``.
    :param timeout: seconds allowed for connecting and for each read.
    :raises ValueError: for a URL :func:`check_range_url` refuses.
    """

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = check_range_url(url)
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        return f"BreachedPasswords({self.url!r}, timeout={self.timeout})"

    def count(self, password: str) -> int:
        """How many times the breach corpus holds ``password`` (its NFKC form, as the
        hasher stores it); 0 when it does not.

        :raises BreachedCheckFailed: when the API could not be asked or answered
            something that is not a range.
        """
        normalised = unicodedata.normalize("NFKC", password).encode()
        # SHA-1 is what the protocol names; it protects nothing here, the prefix is public.
        digest = hashlib.sha1(normalised, usedforsecurity=False).hexdigest().upper()
        prefix, suffix = digest[:5], digest[5:]
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            f"{self.url}/{prefix}",
            headers={"Add-Padding": "true", "User-Agent": "flask-bastion"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except (OSError, HTTPException, ValueError) as exc:
            # URLError and HTTPError are OSErrors, and so are timeouts and refusals.
            raise BreachedCheckFailed(f"the range API could not be asked: {exc}") from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise BreachedCheckFailed("the range API answered more than a range")
        return _count_in(body, suffix)


def _count_in(body: bytes, suffix: str) -> int:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise BreachedCheckFailed("the range API answered something that is not a range") from None
    found = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LINE_RE.fullmatch(line.strip().upper())
        if match is None:
            raise BreachedCheckFailed("the range API answered something that is not a range")
        if match.group(1) == suffix:
            found = int(match.group(2))  # 0 for a padding line: not found
    return found
