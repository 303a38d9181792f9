"""The :class:`Bastion` extension: loads configuration once and composes the protections.

Protections are small components with the same shape (``name``, ``init_app``, and any of
``before_request``, ``view_headers``, ``view_policy``). ``Bastion`` registers them in a
fixed order and composes their request work into **one** ``before_request`` function and
**one** response step, so the per-request cost is the same however many protections are on.

Hook order, for every request:

1. (WSGI) :class:`~flask_bastion.proxy.ProxyMiddleware` settles client IP, scheme and
   host, when proxy trust is configured.
2. Bastion's ``before_request`` runs before the application's own: it assigns the request
   ID, refuses every request while Werkzeug's debugger is on under the production
   profile (:mod:`~flask_bastion.debugger`), rejects malformed input
   (:mod:`~flask_bastion.inputs`), redirects plain HTTP
   (:mod:`~flask_bastion.https`), answers 503 when the session store could not be read
   (:mod:`~flask_bastion.sessions`), then rejects cross-site forgeries
   (:mod:`~flask_bastion.csrf`). When it returns a response or raises, the view never
   runs.
3. The view and the application's hooks.
4. (WSGI) :class:`ResponseLayer` runs after every Flask hook, as the response starts, so
   it sees the final response; it adds the security headers, the CSP and the request ID,
   skipping any header the response already has; a ``304 Not Modified`` gets no CSP,
   so the cached page keeps the policy its nonces were made for.

The headers of each view are computed once, on its first response, and reused.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable

from flask import Flask, Response, g, has_app_context, request

from .config import BastionConfig, load_config
from .context import RequestState, new_request_id, request_state
from .csp import ContentSecurityPolicy
from .csrf import CSRFProtection
from .debugger import DebuggerGuard
from .errors import SafeErrors
from .exceptions import ConfigurationError
from .headers import SecurityHeaders
from .https import HTTPS
from .inputs import InputLimits
from .proxy import ProxyMiddleware, ProxyTrust
from .sessions import Sessions

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Key of the per-application state in ``app.extensions``.
EXTENSION_KEY = "bastion"


class _Plan:
    """The response work for one (endpoint, scheme): precomputed, applied in one pass."""

    __slots__ = ("csp", "names", "static")

    def __init__(self, static: list[tuple[str, str]], csp: list[str] | None) -> None:
        self.static = static
        self.names = frozenset(name.lower() for name, _ in static)
        self.csp = csp


class BastionState:
    """Everything Flask-Bastion keeps for one application, in ``app.extensions["bastion"]``."""

    def __init__(self, extension: Bastion, config: BastionConfig) -> None:
        #: The :class:`Bastion` instance that initialised the application.
        self.extension = extension
        #: The validated configuration.
        self.config = config
        self.proxy = ProxyTrust(config.proxy)
        self.debugger = DebuggerGuard(config)
        self.errors = SafeErrors(config)
        self.inputs = InputLimits(config)
        self.https = HTTPS(config)
        self.headers = SecurityHeaders(config)
        self.csp = ContentSecurityPolicy(config)
        self.sessions = Sessions(config)
        self.csrf = CSRFProtection(config)
        #: The components, in registration order.
        self.components = (
            self.debugger,
            self.errors,
            self.inputs,
            self.https,
            self.headers,
            self.csp,
            self.sessions,
            self.csrf,
        )
        self._header_sources = tuple(c for c in self.components if hasattr(c, "view_headers"))
        self._plans: dict[tuple[str | None, bool], _Plan] = {}

    def plan(self, app: Flask, endpoint: str | None, https: bool) -> _Plan:
        """The response plan of ``endpoint`` (``None`` for unrouted requests)."""
        key = (endpoint, https)
        plan = self._plans.get(key)
        if plan is None:
            view = app.view_functions.get(endpoint) if endpoint else None
            view = getattr(view, "view_class", view)  # class-based views carry the attrs
            static = [h for c in self._header_sources for h in c.view_headers(view, https)]
            plan = self._plans[key] = _Plan(static, self.csp.view_policy(view, https))
        return plan


class Bastion:
    """Make a Flask application secure by default.

    ::

        app = Flask(__name__)
        Bastion(app)

    or, with an application factory::

        bastion = Bastion()

        def create_app():
            app = Flask(__name__)
            bastion.init_app(app)
            return app

    :param app: the application to initialise now, if any.
    :param overrides: settings that win over ``app.config``, named as the configuration
        key without ``BASTION_``, in lower case (``csp_report_only=True``).
    :raises ConfigurationError: when a setting is unknown or invalid.
    """

    def __init__(self, app: Flask | None = None, **overrides: t.Any) -> None:
        self.overrides = overrides
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Validate the configuration and install every protection on ``app``.

        :raises ConfigurationError: for an unknown or invalid setting, for ``DEBUG`` under
            the production profile, or when called twice for one application.
        """
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError(
                "init_app", "Flask-Bastion is already initialised on this app."
            )
        config = load_config(app.config, self.overrides)
        state = BastionState(self, config)
        for component in state.components:  # the debugger guard first: it may refuse the app
            component.init_app(app)
        app.extensions[EXTENSION_KEY] = state
        _install_hooks(app, state)
        if state.proxy.enabled:  # outermost: settles the environ before anything reads it
            app.wsgi_app = ProxyMiddleware(app.wsgi_app, state.proxy)  # type: ignore[method-assign]

        from .cli import bastion_cli

        app.cli.add_command(bastion_cli)
        if config.development:
            app.logger.warning(
                "Flask-Bastion development profile: loopback hosts are not redirected to "
                "HTTPS, the session cookie is not Secure and DEBUG is allowed. Never deploy "
                "with BASTION_PROFILE='development'."
            )


def get_state(app: Flask) -> BastionState:
    """The :class:`BastionState` of ``app``.

    :raises RuntimeError: when Flask-Bastion is not initialised on ``app``.
    """
    try:
        return t.cast(BastionState, app.extensions[EXTENSION_KEY])
    except KeyError:
        raise RuntimeError("Flask-Bastion is not initialised on this application.") from None


class ResponseLayer:
    """WSGI layer adding each view's planned headers as the response starts.

    Flask calls ``start_response`` while the request context is still active, so the
    endpoint and per-request state are known here; adding the headers to the plain WSGI
    list skips werkzeug re-validating each one, which an ``after_request`` hook would pay.
    """

    def __init__(self, wsgi_app: WSGIApplication, app: Flask, state: BastionState) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.plan_for = state.plan
        self.rid_header = state.config.errors.request_id_header
        self.rid_lower = self.rid_header.lower()
        self.csp_header = state.csp.header
        self.csp_lower = self.csp_header.lower()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def bastion_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
        ) -> t.Any:
            self.add_headers(environ, headers, not_modified=status.startswith("304"))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, bastion_start_response)

    def add_headers(
        self, environ: WSGIEnvironment, headers: list[tuple[str, str]], not_modified: bool = False
    ) -> None:
        """Extend ``headers`` with the plan of this request's view, in one pass; a header
        the response already has is never overwritten or repeated.

        A ``304 Not Modified`` gets no CSP: a cache updates the stored response's headers
        from a 304 (RFC 9111 section 4.3.4), and a fresh nonce there would no longer match
        the nonces in the cached page, whose scripts the browser would then block.
        """
        req = environ.get("werkzeug.request")
        rule = req.url_rule if req is not None else None
        plan = self.plan_for(
            self.app,
            rule.endpoint if rule is not None else None,
            environ["wsgi.url_scheme"] == "https",
        )
        present = {name.lower() for name, _ in headers}
        if present.isdisjoint(plan.names):
            headers.extend(plan.static)
        else:
            headers.extend(h for h in plan.static if h[0].lower() not in present)
        state = request_state() if has_app_context() else RequestState(new_request_id())
        if plan.csp is not None and not not_modified and self.csp_lower not in present:
            headers.append((self.csp_header, f"'nonce-{state.nonce}'".join(plan.csp)))
        if self.rid_lower not in present:
            headers.append((self.rid_header, state.request_id))


def _install_hooks(app: Flask, state: BastionState) -> None:
    debugger, errors, inputs = state.debugger, state.errors, state.inputs
    https, sessions, csrf = state.https, state.sessions, state.csrf

    def bastion_before_request() -> Response | None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        g._bastion = errors.start_request(req.environ)
        debugger.before_request(req)
        inputs.before_request(req)
        redirect = https.before_request(req)
        if redirect is not None:
            return redirect
        sessions.before_request(req)
        csrf.before_request(req)
        return None

    # Bastion's before hook runs first, whatever the application registered before
    # init_app; the response layer runs after every Flask hook, on the final response.
    app.before_request_funcs.setdefault(None, []).insert(0, bastion_before_request)
    app.wsgi_app = ResponseLayer(app.wsgi_app, app, state)  # type: ignore[method-assign]
