"""Hotlink protection: another site's page may not embed this application's images,
video, audio, fonts and subtitles.

A site that puts ``<img src="https://ours.example/static/chart.png">`` in its pages
serves our files with our bandwidth, under its name, to its visitors (and with their
cookies, to ours). The protected endpoints are Flask's ``static`` (and every blueprint's,
``BASTION_CONTENT_HOTLINK_ENDPOINTS``) and the views marked :func:`hotlink_protected`.
For those, a request is refused with 403 before anything else is done for it when:

1. ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site`` (any value other than
   ``same-origin`` and ``none``) and ``Sec-Fetch-Dest`` is ``image``, ``video``,
   ``audio``, ``font`` or ``track``; or it is ``iframe``, ``frame``, ``object`` or
   ``embed``, or a ``no-cors`` fetch (``empty``), for media as judged in 2. Browsers set
   these headers themselves; no page script can change them. Navigations
   (``document``), scripts, styles and CORS ``fetch`` pass: following a link to a
   picture is not hotlinking, and a cross-origin script or CORS ``fetch`` cannot read
   the bytes without CORS headers, which Flask-Bastion never sends. A frame shows the
   file on the other site's page, and a service worker can answer its page's ``<img>``
   with the opaque response of a ``no-cors`` fetch.
2. Without ``Sec-Fetch-Site`` (browsers before 2023), ``Referer`` names an origin other
   than the request's own (built from the scheme and host :mod:`flask_bastion.proxy`
   settled, so a forwarded ``Host`` counts only from a trusted proxy) and the request is
   for media: by ``Sec-Fetch-Dest`` when sent, else by the path's file extension for the
   static endpoints, and always for a :func:`hotlink_protected` view. A ``Referer`` that
   is not an http(s) URL counts as foreign.

A same-site page (another subdomain of the same registrable domain) is refused like any
other site: a subdomain may serve user content or be taken over, and the default
``Cross-Origin-Resource-Policy: same-origin`` refuses it in the browser too. A request
without ``Sec-Fetch-Site`` or ``Referer`` (a typed URL, a download tool, a page with
``Referrer-Policy: no-referrer``) passes: refusing it would break direct use, and a
hotlinking page cannot count on its visitors' browsers to omit both.

Partner origins (``BASTION_CONTENT_HOTLINK_ALLOW``, exact or ``https://*.example.org``)
may embed: a request whose ``Referer`` names one passes, and its response says
``Cross-Origin-Resource-Policy: cross-origin`` so the partner's page can show it. A
partner page must send at least its origin as ``Referer`` (the browsers' default
policy does).
"""

from __future__ import annotations

import fnmatch
import typing as t

from flask import Flask, Request, current_app

from ..components import Stage
from ..config import BastionConfig
from ..context import RequestState, add_vary, find_with_vary
from ..exceptions import HotlinkRefused
from ..markers import View, mark
from ..origins import OriginList, origin_of, request_origin
from ..refusal import refuse

V = t.TypeVar("V")

REASON_CROSS_SITE = "Sec-Fetch-Site: another site's page embedded this file."
REASON_FOREIGN_REFERER = "Referer: another site's page embedded this file."
#: The view mark set by :func:`hotlink_protected`.
PROTECTED = "hotlink_protected"
#: ``Sec-Fetch-Dest`` values of embedded media.
MEDIA_DESTINATIONS = frozenset({"image", "video", "audio", "font", "track"})
#: File extensions of images, video, audio, fonts and subtitles: what a static
#: request without ``Sec-Fetch-Dest`` is judged by.
MEDIA_EXTENSIONS = frozenset(
    {
        # images
        "apng", "avif", "bmp", "gif", "ico", "jfif", "jpeg", "jpg", "png", "svg", "tif",
        "tiff", "webp",
        # video
        "avi", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "ogv", "webm",
        # audio
        "aac", "flac", "m4a", "mid", "midi", "mp3", "oga", "ogg", "opus", "wav", "weba",
        # fonts and subtitles
        "eot", "otf", "ttf", "woff", "woff2", "vtt",
    }
)  # fmt: skip
#: ``Sec-Fetch-Dest`` values of a frame or plugin that may show a file of any type: such a
#: request is media when a request without ``Sec-Fetch-Dest`` would be.
EMBEDDING_DESTINATIONS = frozenset({"iframe", "frame", "object", "embed"})
_PASSING_SITES = frozenset({"same-origin", "none"})

# What a protected endpoint's request is judged by without Sec-Fetch-Dest.
_NOT_PROTECTED, _BY_EXTENSION, _ALWAYS_MEDIA = 0, 1, 2


def hotlink_protected(target: V) -> V:
    """Protect a view function, a class-based view or a whole blueprint that serves
    media (images, video, audio, fonts) from hotlinking, like Flask's ``static``. Every
    response of such a view is treated as media, whatever its path.

    :raises AssertionError: for a blueprint that is already registered.
    """
    return mark(target, PROTECTED, True)


class HotlinkProtection:
    """Component: refuses another site's embedding of protected media. At the filter
    stage, so a refused request costs no rate-limit budget of the visitor whose browser
    the other site uses, and nothing after it runs."""

    name = "hotlink"
    stage = Stage.FILTER

    def __init__(self, config: BastionConfig) -> None:
        content = config.content
        #: ``BASTION_CONTENT_HOTLINK_PROTECTION``.
        self.enabled = content.hotlink_protection
        #: ``BASTION_CONTENT_HOTLINK_ENDPOINTS``.
        self.endpoints = content.hotlink_endpoints
        #: ``BASTION_CONTENT_HOTLINK_ALLOW``.
        self.allow = OriginList(content.hotlink_allow)
        self._kinds: dict[str | None, int] = {None: _NOT_PROTECTED}

    def init_app(self, app: Flask) -> None:
        """Nothing to register: the check runs in :meth:`before_request`."""

    def protection(self, app: Flask, endpoint: str | None) -> int:
        """How ``endpoint`` is protected, decided on its first request and kept."""
        kind = self._kinds.get(endpoint)
        if kind is None:
            if View(app, endpoint).get(PROTECTED, False):
                kind = _ALWAYS_MEDIA
            elif any(fnmatch.fnmatchcase(str(endpoint), p) for p in self.endpoints):
                kind = _BY_EXTENSION
            else:
                kind = _NOT_PROTECTED
            self._kinds[endpoint] = kind
        return kind

    def runs_for(self, endpoint: str | None, safe: bool) -> bool:
        """Only the protected endpoints are checked."""
        return self.protection(current_app, endpoint) != _NOT_PROTECTED

    def before_request(self, request: Request, state: RequestState) -> None:
        """Refuse a protected file embedded by another site's page.

        :raises HotlinkRefused: with :data:`REASON_CROSS_SITE` or
            :data:`REASON_FOREIGN_REFERER`.
        """
        if not self.enabled:
            return
        kind = self._kinds.get(state.endpoint)
        if kind is None:
            kind = self.protection(current_app, state.endpoint)
        if kind == _NOT_PROTECTED:
            return
        environ = request.environ
        site = environ.get("HTTP_SEC_FETCH_SITE")
        if site in _PASSING_SITES:
            return
        referer = environ.get("HTTP_REFERER")
        if site is None and not referer:
            return
        dest = environ.get("HTTP_SEC_FETCH_DEST")
        if dest not in MEDIA_DESTINATIONS:
            # A frame, object or embed shows the file on the other site's page, and so
            # does a no-cors fetch() in its service worker, answering the page's <img>
            # with our bytes: each is judged as a request without Sec-Fetch-Dest.
            if dest is not None and not (
                dest in EMBEDDING_DESTINATIONS
                or (dest == "empty" and environ.get("HTTP_SEC_FETCH_MODE") == "no-cors")
            ):
                return
            if kind == _BY_EXTENSION and not _media_path(request.path):
                return
        origin = origin_of(referer) if referer else None
        if site is None and origin == request_origin(request):
            return
        if origin is not None and origin in self.allow:
            state.on_response(share_with_partner)
            return
        reason = REASON_CROSS_SITE if site is not None else REASON_FOREIGN_REFERER
        refuse(HotlinkRefused(reason, endpoint=request.endpoint, origin=origin))


def _media_path(path: str) -> bool:
    name = path.rpartition("/")[2]
    return "." in name and name.rpartition(".")[2].lower() in MEDIA_EXTENSIONS


def share_with_partner(status: str, headers: list[tuple[str, str]]) -> None:
    """Response callback for a request from an allowed partner origin: the response's
    ``Cross-Origin-Resource-Policy`` becomes ``cross-origin``, or the browser would not
    show it on the partner's page; and it says ``Vary: Referer``, so that a shared cache
    that stored this copy hands it to the partner's pages only, never to another site's
    ``<img>`` (which the ``cross-origin`` policy would let the browser show)."""
    corp_at, vary_at = find_with_vary(headers, "cross-origin-resource-policy")
    if corp_at < 0:
        headers.append(("Cross-Origin-Resource-Policy", "cross-origin"))
    else:
        headers[corp_at] = (headers[corp_at][0], "cross-origin")
    add_vary(headers, vary_at, "Referer")
