"""Content-Security-Policy: a strict, nonce-based policy on every response.

A CSP is the browser-side backstop for cross-site scripting: even when an attacker gets
markup into a page, the browser runs only scripts that carry this response's nonce (a
fresh 128-bit value per response, unguessable and never reused), and with
``'strict-dynamic'`` the scripts those load. The default policy starts from
``default-src 'none'`` and allows each kind of resource a typical application loads
(styles, images, fonts, ``fetch``, media, the web app manifest) from its own origin only,
so whatever it does not name (frames, for one) is refused. ``object-src 'none'`` keeps
plugins out even when an application loosens ``default-src``, ``base-uri 'none'`` stops
``<base>`` hijacking of relative script URLs, ``frame-ancestors 'none'`` stops
clickjacking and ``form-action 'self'`` stops injected forms posting credentials
elsewhere. See web.dev/articles/strict-csp and docs/csp.md, which explains each
directive.

Templates get the nonce from the ``csp_nonce()`` Jinja global, and the Subresource
Integrity digest of a static file from ``sri()`` (:mod:`~flask_bastion.sri`)::

    <script src="{{ url_for('static', filename='app.js') }}" integrity="{{ sri('app.js') }}"
            nonce="{{ csp_nonce() }}"></script>

The policy is serialised once per view and only the nonce is filled in per response.
:func:`csp` changes it for one view; ``BASTION_CSP_REPORT_ONLY`` rolls a policy out
without enforcing it. ``upgrade-insecure-requests`` is added on HTTPS responses only.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Mapping

from flask import Flask

from .components import Stage
from .config import BastionConfig
from .config.parsers import Invalid, csp_policy
from .context import request_state
from .exceptions import ConfigurationError
from .markers import View, mark
from .sri import sri

V = t.TypeVar("V")

#: The source in a policy that stands for this response's nonce.
NONCE = "'nonce'"
#: Name of the Reporting API endpoint used by ``report-to``.
REPORT_GROUP = "csp-endpoint"
#: View attribute holding :func:`csp` overrides, validated: ``(replacement policy or
#: None, directives to set, directives to remove)``.
OVERRIDES = "csp"
#: The key named by errors in :func:`csp` arguments, which follow its rules.
POLICY_KEY = "BASTION_CSP_POLICY"

HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


def csp_nonce() -> str:
    """The CSP nonce of the current response, for ``nonce="..."`` attributes."""
    return request_state().nonce


def csp(policy: Mapping[str, t.Any] | None = None, /, **directives: t.Any) -> Callable[[V], V]:
    """Change the Content-Security-Policy of one view.

    Keywords replace single directives (underscores become dashes; ``None`` removes the
    directive); a mapping as the first argument replaces the whole policy::

        @app.get("/map")
        @csp(img_src=["'self'", "https://tiles.example.org"])
        def map_view(): ...

    The values follow the rules of ``BASTION_CSP_POLICY`` and are checked here, when the
    module is imported, not on the view's first request.

    .. danger:: Adding ``'unsafe-inline'`` or ``'unsafe-eval'`` to ``script-src`` undoes
       most of what a CSP protects against.

    :raises ConfigurationError: when a directive or source is invalid.
    """
    changes = {name.replace("_", "-"): value for name, value in directives.items()}
    removed = {name.lower() for name, value in changes.items() if value is None}
    try:
        replacement = None if policy is None else csp_policy(policy)
        kept = csp_policy({name: value for name, value in changes.items() if value is not None})
    except Invalid as exc:
        raise ConfigurationError(POLICY_KEY, f"in @csp(...): {exc}.") from None
    override = (replacement, kept, removed)

    def decorator(view: V) -> V:
        return mark(view, OVERRIDES, override)

    return decorator


def serialise(policy: Mapping[str, tuple[str, ...]]) -> str:
    """``default-src 'none'; script-src ...`` from a directive -> sources mapping."""
    return "; ".join(" ".join((name, *sources)) for name, sources in policy.items())


class ContentSecurityPolicy:
    """Component: the CSP header and the ``csp_nonce()`` and ``sri()`` template globals."""

    name = "csp"
    stage = Stage.RESPONSE

    def __init__(self, config: BastionConfig) -> None:
        self.config = config.csp
        self.header = REPORT_ONLY_HEADER if self.config.report_only else HEADER

    def init_app(self, app: Flask) -> None:
        app.jinja_env.globals["csp_nonce"] = csp_nonce
        app.jinja_env.globals["sri"] = sri

    def view_headers(self, view: View, https: bool) -> list[tuple[str, str]]:
        """``Reporting-Endpoints`` when a Reporting API endpoint is configured."""
        if self.config.enabled and self.config.report_to:
            return [("Reporting-Endpoints", f'{REPORT_GROUP}="{self.config.report_to}"')]
        return []

    def view_policy(self, view: View, https: bool) -> list[str] | None:
        """The policy for ``view`` split around the nonce: join the parts with
        ``'nonce-<value>'`` to get the header value. ``None`` when CSP is off."""
        policy = self.policy_for(view, https)
        return None if policy is None else serialise(policy).split(NONCE)

    def policy_for(self, view: View, https: bool) -> dict[str, tuple[str, ...]] | None:
        """The directives of ``view``'s policy (its :func:`csp` changes applied), or
        ``None`` when CSP is off."""
        if not self.config.enabled:
            return None
        policy = dict(self.config.policy)
        override = view.get(OVERRIDES, None)
        if override is not None:
            replacement, kept, removed = override
            if replacement is not None:
                policy = dict(replacement)
            policy.update(kept)
            for name in removed:
                policy.pop(name, None)
        if https:
            policy.setdefault("upgrade-insecure-requests", ())
        if self.config.report_uri:
            policy["report-uri"] = (self.config.report_uri,)
        if self.config.report_to:
            policy["report-to"] = (REPORT_GROUP,)
        return policy
