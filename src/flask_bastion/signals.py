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

#: An unhandled exception became a 500 page. Keywords: ``request_id``, ``exception``.
server_error = _signals.signal("bastion.server-error")

#: An unsafe request failed the cross-site request forgery check. Keywords: ``reason``
#: (one of the ``REASON_*`` constants of :mod:`flask_bastion.csrf`).
csrf_rejected = _signals.signal("bastion.csrf-rejected")
