"""Signed, expiring URLs: a download link that dies when it expires, when it is opened
by another user, and when any part of it is changed.

:func:`signed_url` builds a URL like ``url_for`` and appends ``expires`` (Unix time),
``bound=1`` when the link is made for one user, and ``signature``: an HMAC-SHA256, under
a key derived from ``SECRET_KEY``, of the path, every other query value, the expiry,
the user's ID and, when the application routes by host (subdomain or host matching),
the host. A view marked :func:`signed_url_required` refuses, before it runs, any
request whose URL does not verify: the signature is checked first (in constant time,
against ``SECRET_KEY`` and then each of ``SECRET_KEY_FALLBACKS``, so links survive a key
rotation until they expire), then the expiry. Every failure is the same opaque 403
(:class:`~flask_bastion.exceptions.SignedURLInvalid`); which failure it was goes to the
signal and the log only, so the response tells a forger nothing.

The HMAC is itsdangerous's :class:`~itsdangerous.Signer` (the library Flask signs its
cookies with), with HMAC key derivation and a purpose label of its own, so a signature
made for a cookie or another Flask-Bastion token is never a valid URL signature.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import operator
import re
import typing as t
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from flask import Flask, Request, current_app, url_for
from itsdangerous import Signer

from ..accounts.core import ACCOUNTS_KEY, current_user
from ..config.sections import MAX_SIGNED_URL_LIFETIME
from ..context import get_state
from ..exceptions import ConfigurationError, SignedURLInvalid
from ..markers import mark
from ..refusal import refuse
from ..sessions import USER_KEY, peek_session_value

V = t.TypeVar("V")

#: Query parameter holding the expiry, in Unix seconds.
EXPIRES_PARAM = "expires"
#: Query parameter present (``bound=1``) when the link is bound to one user.
BOUND_PARAM = "bound"
#: Query parameter holding the signature.
SIGNATURE_PARAM = "signature"
#: The query parameters :func:`signed_url` adds; a view cannot use them for its own.
RESERVED_PARAMS = frozenset({EXPIRES_PARAM, BOUND_PARAM, SIGNATURE_PARAM})
#: itsdangerous salt: the purpose label of the key derived from ``SECRET_KEY``.
SALT = "flask-bastion.content.signed-url"
#: The view mark set by :func:`signed_url_required`.
SIGNED = "signed_url_required"

REASON_MALFORMED = "The URL's signature or expiry is missing or malformed."
REASON_BAD_SIGNATURE = "The URL's signature does not match its path, query, expiry or user."
REASON_EXPIRED = "The URL has expired."

#: At most 12 digits: an expiry far past any lifetime allowed, and no huge integer to parse.
#: No leading zero, so one expiry has one spelling.
_EXPIRES_RE = re.compile(r"[1-9][0-9]{0,11}")
#: An HMAC-SHA256 in unpadded base64url, as :func:`signed_url` writes it: 43 characters,
#: the last of which carries 4 bits of the digest and 2 zero bits. Base64 decoding is
#: lenient (padding, and the unused bits of the last character), so without this one
#: signature would have several spellings that all verify.
_SIGNATURE_RE = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


def signed_url_required(target: V) -> V:
    """Serve a view function, a class-based view or a whole blueprint only through URLs
    made by :func:`signed_url` that are unchanged, unexpired and, when bound to a user,
    opened by that user. Anything else is refused with the same 403 before the view
    runs. Responses are marked private (``Cache-Control: private, no-store`` unless the
    view sets its own), so no shared cache serves a copy after the link expired, and get
    ``X-Robots-Tag``.

    :raises AssertionError: for a blueprint that is already registered.
    """
    return mark(target, SIGNED, True)


def signed_url(
    endpoint: str,
    *,
    expires_in: int | datetime.timedelta | None = None,
    user: object = None,
    now: float | None = None,
    **values: t.Any,
) -> str:
    """The URL of ``endpoint`` (built like :func:`flask.url_for`, ``_external`` and
    ``_anchor`` included), signed and expiring.

    :param expires_in: seconds (or a timedelta) the link stays valid; default
        ``BASTION_CONTENT_SIGNED_URL_EXPIRES``, at most a year.
    :param user: a user (anything with ``get_id()``) or a user ID: only that user, signed
        in, can open the link. ``None`` makes a link anyone holding it can open.
    :param now: the current Unix time (tests); default the component's clock.
    :raises TypeError: when ``values`` use a name of :data:`RESERVED_PARAMS`.
    :raises ValueError: for a lifetime outside 1 second to a year, or an anonymous user.
    :raises ConfigurationError: when ``SECRET_KEY`` is not set.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    taken = RESERVED_PARAMS.intersection(values)
    if taken:
        raise TypeError(f"{', '.join(sorted(taken))}: reserved for the URL's signature")
    component = get_state(app).component("content")
    lifetime = component.signed_url_expires if expires_in is None else expires_in
    if isinstance(lifetime, datetime.timedelta):
        lifetime = lifetime.total_seconds()
    if isinstance(lifetime, bool) or not 1 <= lifetime <= MAX_SIGNED_URL_LIFETIME:
        raise ValueError(f"expires_in must be 1 to {MAX_SIGNED_URL_LIFETIME} seconds")
    user_id = None if user is None else _id_of(user)
    anchor = values.pop("_anchor", None)
    parts = urlsplit(url_for(endpoint, **values))
    host = None
    if _routes_by_host(app):
        external = {**values, "_external": True}
        host = urlsplit(url_for(endpoint, **external)).netloc
    expires = int(component.clock() if now is None else now) + int(lifetime)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    message = _message(unquote(parts.path), pairs, expires, user_id, host)
    signature = _signer(app).get_signature(message).decode("ascii")
    added = [(EXPIRES_PARAM, str(expires))]
    if user_id is not None:
        added.append((BOUND_PARAM, "1"))
    added.append((SIGNATURE_PARAM, signature))
    query = f"{parts.query}&{urlencode(added)}" if parts.query else urlencode(added)
    fragment = "" if anchor is None else quote(str(anchor), safe="%!#$&'()*+,/:;=?@")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, fragment))


def verify_signed_url(request: Request, *, now: float | None = None) -> None:
    """Refuse ``request`` unless its URL is a valid :func:`signed_url`; what a
    :func:`signed_url_required` view does before it runs.

    :param now: the current Unix time (tests); default the component's clock.
    :raises SignedURLInvalid: through :func:`~flask_bastion.refusal.refuse`, with one of
        the ``REASON_*`` constants, always as the same 403 page.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    args = request.args
    expires = args.getlist(EXPIRES_PARAM)
    bound = args.getlist(BOUND_PARAM)
    signature = args.getlist(SIGNATURE_PARAM)
    if (
        len(expires) != 1
        or len(signature) != 1
        or bound not in ([], ["1"])
        or not _EXPIRES_RE.fullmatch(expires[0])
        or not _SIGNATURE_RE.fullmatch(signature[0])
    ):
        _reject(request, REASON_MALFORMED)
    user_id = _current_user_id(app) if bound else None
    pairs = [(k, v) for k, v in args.items(multi=True) if k not in RESERVED_PARAMS]
    host = request.host if _routes_by_host(app) else None
    message = _message(request.root_path + request.path, pairs, int(expires[0]), user_id, host)
    # A bound link opened anonymously is checked against no user at all: it fails like
    # a forged one, at the same cost.
    if not _signer(app).verify_signature(message, signature[0].encode("utf-8")) or (
        bound and user_id is None
    ):
        _reject(request, REASON_BAD_SIGNATURE)
    clock = get_state(app).component("content").clock
    if (clock() if now is None else now) >= int(expires[0]):
        _reject(request, REASON_EXPIRED)


def _reject(request: Request, reason: str) -> t.NoReturn:
    refuse(SignedURLInvalid(reason, endpoint=request.endpoint))


def _routes_by_host(app: Flask) -> bool:
    """Whether the same path can reach another view, or the same view with other values,
    on another host: the application matches subdomains or hosts (one tenant per
    subdomain). Its links are then signed for their host as well."""
    return bool(app.subdomain_matching or app.url_map.host_matching)


def _message(
    path: str,
    pairs: t.Iterable[tuple[str, str]],
    expires: int,
    user_id: str | None,
    host: str | None,
) -> bytes:
    """What the signature covers, serialised without any ambiguity: JSON of a version,
    the path, the query pairs, the expiry, the user's ID (or null) and, for an
    application that routes by host, the host in lower case.

    The pairs are sorted by name only, and the sort is stable: the parameters may come in
    any order, but the values of a repeated parameter keep theirs, since a view reading
    ``request.args.get(name)`` takes the first."""
    body: list[t.Any] = ["v1", path, sorted(pairs, key=operator.itemgetter(0)), expires, user_id]
    if host is not None:
        body.append(host.lower())
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _signer(app: Flask) -> Signer:
    """The signer of the application's current keys: ``SECRET_KEY`` signs; it and each of
    ``SECRET_KEY_FALLBACKS`` verify. Made per call, so a key set after ``init_app`` (or
    rotated in place) is used."""
    secret = app.config.get("SECRET_KEY")
    if not secret:
        raise ConfigurationError("SECRET_KEY", "signed URLs need SECRET_KEY to be set.")
    fallbacks = list(app.config.get("SECRET_KEY_FALLBACKS") or ())
    # itsdangerous signs with the last key and verifies with each, newest first (as
    # Flask orders its session keys).
    return Signer(
        [*fallbacks, secret],
        salt=SALT,
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )


def _id_of(user: object) -> str:
    """The ID of ``user`` (an object with ``get_id()``, or the ID itself) as a string."""
    get_id = getattr(user, "get_id", None)
    found = get_id() if callable(get_id) else user
    if found is None or isinstance(found, bool) or str(found) == "":
        raise ValueError("a signed URL can be bound to a user with an ID, not an anonymous one")
    return str(found)


def _current_user_id(app: Flask) -> str | None:
    """The ID of the request's signed-in user: from Flask-Bastion's accounts when they
    are installed (session or bearer token), else from the session's ``_user_id``."""
    if ACCOUNTS_KEY in app.extensions:
        found = current_user.get_id()
    else:
        found = peek_session_value(USER_KEY)
    return None if found is None else str(found)
