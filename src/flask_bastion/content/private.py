"""Private areas: ``X-Robots-Tag`` where search engines have nothing to find, and the
check of the views that need a signed URL.

A private page that leaks into a search index (through a shared link, a browser
extension that reports URLs, a crawler that follows a link posted somewhere) stays
findable long after its link was revoked. Every response gets ``X-Robots-Tag:
noindex, nofollow`` (``BASTION_CONTENT_ROBOTS_TAG``) when:

- the request is a signed-in user's: the session holds a user, or a bearer token
  authenticated it (``BASTION_CONTENT_NOINDEX_SIGNED_IN``);
- the view, or a blueprint it belongs to, is marked :func:`noindex`, or needs a signed
  URL (:func:`~flask_bastion.content.signed_url_required`);
- the path is one of ``BASTION_CONTENT_NOINDEX_PATHS`` or below it.

The header is set only when the response has none, so a view's own value wins. Crawlers
that ignore it are not stopped by it: it keeps honest search engines from listing what a
login or a signature protects, nothing more.
"""

from __future__ import annotations

import time
import typing as t

from flask import Flask, Request, current_app

from ..components import Stage
from ..config import BastionConfig
from ..context import RequestState
from ..cookies import mark_private
from ..markers import View, mark
from ..sessions import USER_KEY, peek_session_value
from .signed import SIGNED, signed_url, verify_signed_url

V = t.TypeVar("V")

#: The view mark set by :func:`noindex`.
NOINDEX = "noindex"
#: The header sent on private responses.
ROBOTS_HEADER = "X-Robots-Tag"


def noindex(target: V) -> V:
    """Send ``X-Robots-Tag`` (``BASTION_CONTENT_ROBOTS_TAG``) with every response of a
    view function, a class-based view or a whole blueprint, signed in or not::

        bp = noindex(Blueprint("admin", __name__, url_prefix="/admin"))

    :raises AssertionError: for a blueprint that is already registered.
    """
    return mark(target, NOINDEX, True)


class PrivateContent:
    """Component: verifies the signed URL of the views that need one, and sends
    ``X-Robots-Tag`` on private responses. At the authorization stage, after the user is
    known, since a signed URL may be bound to one."""

    name = "content"
    stage = Stage.AUTHORIZE

    def __init__(self, config: BastionConfig) -> None:
        content = config.content
        #: The value of ``X-Robots-Tag``, ``None`` to send none.
        self.robots_tag = content.robots_tag
        #: ``BASTION_CONTENT_NOINDEX_SIGNED_IN``.
        self.noindex_signed_in = content.noindex_signed_in and content.robots_tag is not None
        self._paths = content.noindex_paths if content.robots_tag is not None else ()
        self._below = tuple(f"{path}/" for path in self._paths)
        #: ``BASTION_CONTENT_SIGNED_URL_EXPIRES``: the default lifetime of a signed URL.
        self.signed_url_expires = content.signed_url_expires
        #: The clock of signed URLs, in Unix seconds; tests replace it.
        self.clock: t.Callable[[], float] = time.time
        self._signed: dict[str | None, bool] = {None: False}
        self._header = [(ROBOTS_HEADER, content.robots_tag)] if content.robots_tag else []

    def init_app(self, app: Flask) -> None:
        """Register the template global ``signed_url``."""
        app.jinja_env.globals["signed_url"] = signed_url

    def before_request(self, request: Request, state: RequestState) -> None:
        """Refuse a signed-URL view's request without a valid signature; make a private
        request's response carry ``X-Robots-Tag``.

        :raises SignedURLInvalid: from :func:`~flask_bastion.content.verify_signed_url`.
        """
        endpoint = state.endpoint
        signed = self._signed.get(endpoint)
        if signed is None:
            signed = self._signed[endpoint] = bool(View(current_app, endpoint).get(SIGNED))
        if signed:
            verify_signed_url(request)
            mark_private()
        if self._paths:
            path = request.path
            if path in self._paths or path.startswith(self._below):
                state.on_response(self.add_robots_tag)
                return
        # A signed-in browser always sends the session cookie: a request without any
        # cookie (most anonymous ones) skips the session lookup.
        if self.noindex_signed_in and (
            state.stateless
            or ("HTTP_COOKIE" in request.environ and peek_session_value(USER_KEY) is not None)
        ):
            state.on_response(self.add_robots_tag)

    def view_headers(self, view: View, https: bool) -> list[tuple[str, str]]:
        """``X-Robots-Tag`` for the views marked :func:`noindex` or needing a signed URL."""
        if view.get(NOINDEX, False) or view.get(SIGNED, False):
            return self._header
        return []

    def add_robots_tag(self, status: str, headers: list[tuple[str, str]]) -> None:
        """Response callback: add ``X-Robots-Tag`` unless the response has one."""
        if not any(name.lower() == "x-robots-tag" for name, _value in headers):
            headers.extend(self._header)
