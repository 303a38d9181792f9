"""Response security headers: clickjacking, MIME sniffing, referrer leaks, cross-origin
isolation and powerful browser features.

Each header closes one browser-side hole: ``X-Content-Type-Options: nosniff`` stops a
text upload from being run as script; ``X-Frame-Options`` (with the CSP's
``frame-ancestors``) stops clickjacking; ``Referrer-Policy`` keeps paths and query
strings (which may hold tokens) from other sites; ``Cross-Origin-Opener-Policy`` and
``-Resource-Policy`` cut the cross-origin window references and embedding that Spectre-
style and XS-Leaks attacks use; ``Permissions-Policy`` denies camera, microphone,
geolocation and the like to the page and every frame in it.

Values are computed once per view and added in one pass; a header the view set itself is
never overwritten. :func:`security_headers` changes them for one view, :func:`no_store`
marks a view's responses as never to be cached.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Mapping
from dataclasses import replace

from .components import Stage
from .config import BastionConfig, HeadersConfig, load_config
from .markers import View, mark

V = t.TypeVar("V")

#: The view mark holding :func:`security_headers` overrides, validated.
OVERRIDES = "security_headers"
#: The view mark set by :func:`no_store`.
NO_STORE = "no_store"

_FIELDS = {
    "frame_options": "X-Frame-Options",
    "referrer_policy": "Referrer-Policy",
    "cross_origin_opener_policy": "Cross-Origin-Opener-Policy",
    "cross_origin_resource_policy": "Cross-Origin-Resource-Policy",
}


def security_headers(**overrides: t.Any) -> Callable[[V], V]:
    """Override header settings for one view, by ``BASTION_HEADERS_*`` setting name::

        @app.get("/embed")
        @security_headers(frame_options="SAMEORIGIN", cross_origin_resource_policy="cross-origin")
        def embed(): ...

    ``None`` omits that header for the view. Values follow the rules of the
    configuration and are checked here, when the module is imported, not on the view's
    first request.

    :raises ConfigurationError: when a value is invalid, naming the setting's key.
    """
    unknown = set(overrides) - set(HeadersConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown header setting(s): {', '.join(sorted(unknown))}")
    parsed = load_config({}, {f"headers_{name}": value for name, value in overrides.items()})
    values = {name: getattr(parsed.headers, name) for name in overrides}

    def decorator(view: V) -> V:
        return mark(view, OVERRIDES, values)  # merges with an earlier @security_headers

    return decorator


def no_store(view: V) -> V:
    """Send ``Cache-Control: no-store`` with every response of ``view`` (a view function,
    a class-based view or a blueprint), so neither the browser nor a shared cache keeps a
    copy of sensitive pages (account, tokens, admin)."""
    return mark(view, NO_STORE, True)


def format_permissions_policy(policy: Mapping[str, tuple[str, ...]]) -> str:
    """Serialise a feature -> allowlist mapping as a Permissions-Policy structured field."""

    def item(source: str) -> str:
        return source if source in ("self", "*") else f'"{source}"'

    return ", ".join(
        f"{name}=({' '.join(item(s) for s in allow)})" for name, allow in policy.items()
    )


class SecurityHeaders:
    """Component: the static security headers of each view."""

    name = "headers"
    stage = Stage.RESPONSE

    def __init__(self, config: BastionConfig) -> None:
        self.config = config.headers

    def init_app(self, app: object) -> None:
        """Nothing to register: headers are added by the composed response hook."""

    def view_headers(self, view: View, https: bool) -> list[tuple[str, str]]:
        """The headers for ``view``'s responses (an unrouted 404 has no marks)."""
        overrides = view.get(OVERRIDES, None)
        config = replace(self.config, **overrides) if overrides else self.config
        headers = [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Permitted-Cross-Domain-Policies", "none"),
        ]
        for name, header in _FIELDS.items():
            value = getattr(config, name)
            if value is not None:
                headers.append((header, value))
        if config.permissions_policy:
            headers.append(
                ("Permissions-Policy", format_permissions_policy(config.permissions_policy))
            )
        if config.origin_agent_cluster:
            headers.append(("Origin-Agent-Cluster", "?1"))
        if view.get(NO_STORE, False):
            headers.append(("Cache-Control", "no-store"))
        return headers
