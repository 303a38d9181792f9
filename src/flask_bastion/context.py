"""Per-request state, kept on ``g._bastion`` so it never collides with application names."""

from __future__ import annotations

import base64
import secrets

from flask import g


class RequestState:
    """What Flask-Bastion knows about the current request."""

    __slots__ = ("_nonce", "request_id")

    def __init__(self, request_id: str) -> None:
        #: The request ID: sent in a response header, shown on error pages, logged.
        self.request_id = request_id
        self._nonce: str | None = None

    @property
    def nonce(self) -> str:
        """The CSP nonce of this response: 128 bits from :mod:`secrets`, made on first use.

        Standard base64, the only alphabet CSP Level 2 browsers accept in a nonce."""
        if self._nonce is None:
            self._nonce = base64.b64encode(secrets.token_bytes(16)).decode("ascii")
        return self._nonce


def new_request_id() -> str:
    """A fresh, unguessable request ID (96 bits, hex)."""
    return secrets.token_hex(12)


def request_state() -> RequestState:
    """The current request's :class:`RequestState`, created if a hook has not run yet
    (for instance when an error is rendered before ``before_request``)."""
    state: RequestState | None = g.get("_bastion")
    if state is None:
        state = g._bastion = RequestState(new_request_id())
    return state
