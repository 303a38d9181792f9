"""Blinker signals, one per security event, so applications can observe every decision.

Each signal is sent with the Flask application as sender and keyword arguments that
describe the event (always ``reason`` for a rejection). Handlers must not raise.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A request was rejected before reaching the view (malformed input, oversized headers).
#: Keywords: ``reason``, ``status``.
request_rejected = _signals.signal("bastion.request-rejected")

#: A plain-HTTP request was redirected to HTTPS. Keywords: ``location``.
https_redirected = _signals.signal("bastion.https-redirected")

#: :func:`~flask_bastion.sessions.rotate_session` is moving the session to a new ID (login,
#: logout, privilege change); receivers drop what was bound to the old identity, such as
#: the CSRF secret. Sent inside the request, before the rotation. No keywords.
session_rotated = _signals.signal("bastion.session-rotated")

#: A shared store (the session store) could not be reached and the request was answered
#: with 503. Keywords: ``reason``, ``status``.
store_unavailable = _signals.signal("bastion.store-unavailable")

#: An unhandled exception became a 500 page. Keywords: ``request_id``, ``exception``.
server_error = _signals.signal("bastion.server-error")

#: An unsafe request failed the cross-site request forgery check. Keywords: ``reason``
#: (one of the ``REASON_*`` constants of :mod:`flask_bastion.csrf`), ``status`` (403).
#: Like every signal here, receivers should accept ``**extra``: keywords may be added.
csrf_rejected = _signals.signal("bastion.csrf-rejected")
