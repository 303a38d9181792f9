"""The :class:`Bastion` extension: loads configuration once and composes the protections.

Protections are components (:mod:`~flask_bastion.components`): each has a ``name``, a
:class:`~flask_bastion.components.Stage` and ``init_app``, and any of ``before_request``,
``view_headers``, ``view_policy`` and ``wrap_wsgi``. ``Bastion`` registers them in stage
order and composes their request work, once, into **one** ``before_request`` function and
**one** response step, so the per-request cost does not grow with the number of
protections. An application adds its own component at a named stage with
``Bastion(app, components=[...])``.

Hook order, for every request:

1. (WSGI) :class:`~flask_bastion.proxy.ProxyMiddleware` settles client IP, scheme and
   host, when proxy trust is configured.
2. Bastion's ``before_request`` runs before the application's own. It calls the
   components' ``before_request`` in stage order: the input stage takes the request ID
   from a trusted proxy, refuses every request while Werkzeug's debugger is on under the
   production profile (:mod:`~flask_bastion.debugger`) and rejects malformed input
   (:mod:`~flask_bastion.inputs`); the transport stage redirects plain HTTP
   (:mod:`~flask_bastion.https`); the filter stage refuses another site's embedding of
   protected media (:mod:`~flask_bastion.content`) and denied, not allowed or banned
   client addresses (:mod:`~flask_bastion.ipfilter`); the limit stage counts the request
   against its rate limits in one store round trip and refuses it with 429 past one
   (:mod:`~flask_bastion.ratelimit`); the session stage answers 503 when
   the session store could not be read (:mod:`~flask_bastion.sessions`); the forgery
   stage rejects cross-site forgeries (:mod:`~flask_bastion.csrf`); the authorization
   stage refuses a view that needs a signed URL without a valid one
   (:mod:`~flask_bastion.content`). A component ends the request only by raising; the
   view never runs then.
3. The view and the application's hooks.
4. (WSGI) :class:`ResponseLayer` runs after every Flask hook, as the response starts, so
   it sees the final response; it adds the security headers, the CSP and the request ID,
   skipping any header the response already has; a ``304 Not Modified`` gets no CSP,
   so the cached page keeps the policy its nonces were made for. Then it runs the
   callbacks components registered for this request (headers that depend on it).

The headers of each view are computed once, on its first response, and reused.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable

from flask import Flask, has_request_context, request

from .accounts.throttle import LoginThrottling
from .authz import Authorization
from .components import SAFE_METHODS, Component, Factory, Hook, Registry
from .config import BastionConfig, load_config
from .content import HotlinkProtection, PrivateContent
from .context import ENVIRON_KEY, EXTENSION_KEY, RequestState, get_state, request_state
from .cookies import private_headers
from .crypto import Encryption
from .csp import ContentSecurityPolicy
from .csrf import CSRFProtection
from .debugger import DebuggerGuard
from .errors import SafeErrors
from .exceptions import ConfigurationError
from .headers import SecurityHeaders
from .https import HTTPS
from .inputs import InputLimits
from .ipfilter import IPFilter
from .mail import Mailer
from .markers import View
from .proxy import TrustedProxies
from .ratelimit import RateLimiting
from .sanitize import Sanitizer
from .sessions import Sessions
from .stores import Stores
from .uploads import Uploads

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["BUILTIN_COMPONENTS", "EXTENSION_KEY", "Bastion", "BastionState", "get_state"]

#: The built-in components, each made from the application's configuration. Their
#: position comes from their stage, not from this order.
BUILTIN_COMPONENTS: tuple[Factory, ...] = (
    TrustedProxies,
    SafeErrors,
    DebuggerGuard,
    InputLimits,
    Uploads,
    HTTPS,
    HotlinkProtection,
    IPFilter,
    RateLimiting,
    Sessions,
    LoginThrottling,
    CSRFProtection,
    Authorization,
    PrivateContent,
    SecurityHeaders,
    ContentSecurityPolicy,
    Encryption,
    Mailer,
    Sanitizer,
)


class _Plan:
    """The response work for one (endpoint, scheme): precomputed, applied in one pass."""

    __slots__ = ("names", "policy", "static")

    def __init__(self, static: list[tuple[str, str]], policy: list[str] | None) -> None:
        self.static = static
        self.names = frozenset(name.lower() for name, _ in static)
        self.policy = policy


class BastionState:
    """Everything Flask-Bastion keeps for one application, in ``app.extensions["bastion"]``."""

    def __init__(
        self,
        app: Flask,
        extension: Bastion,
        config: BastionConfig,
        extra: Iterable[Component | Factory],
    ) -> None:
        #: The :class:`Bastion` instance that initialised the application.
        self.extension = extension
        #: The validated configuration.
        self.config = config
        #: The SQL databases and Redis clients every component shares.
        self.stores = Stores(app, config)
        #: The components, in pipeline order.
        self.components = Registry(factory(config) for factory in BUILTIN_COMPONENTS)
        for item in extra:
            # A component, or a factory of one (a component class, like the built-ins, is
            # a factory: as a class it has every attribute the protocol asks for); add()
            # refuses anything else.
            if isinstance(item, type) or (callable(item) and not isinstance(item, Component)):
                self.components.add(t.cast(Factory, item)(config))
            else:
                self.components.add(item)
        self._header_sources = self.components.header_sources()
        self.policy_source = self.components.policy_source()
        self._plans: dict[tuple[str | None, bool], _Plan] = {}

    def component(self, name: str) -> t.Any:
        """The component called ``name``.

        :raises KeyError: when there is none.
        """
        return self.components[name]

    def plan(self, app: Flask, endpoint: str | None, https: bool) -> _Plan:
        """The response plan of ``endpoint`` (``None`` for unrouted requests)."""
        key = (endpoint, https)
        plan = self._plans.get(key)
        if plan is None:
            view = View(app, endpoint)
            static = [h for c in self._header_sources for h in c.view_headers(view, https)]
            policy = self.policy_source.view_policy(view, https) if self.policy_source else None
            plan = self._plans[key] = _Plan(static, policy)
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
    :param components: the application's own components (or factories taking the
        :class:`~flask_bastion.config.BastionConfig`), each placed at its stage.
    :param overrides: settings that win over ``app.config``, named as the configuration
        key without ``BASTION_``, in lower case (``csp_report_only=True``).
    :raises ConfigurationError: when a setting is unknown or invalid.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        components: Iterable[Component | Factory] = (),
        **overrides: t.Any,
    ) -> None:
        self.overrides = overrides
        self._components = list(components)
        if app is not None:
            self.init_app(app)

    def add_component(self, component: Component | Factory) -> None:
        """Add an application component for the applications initialised from now on."""
        self._components.append(component)

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
        state = BastionState(app, self, config, self._components)
        # Registered first, so components reach the shared stores through get_state(app);
        # withdrawn if one refuses the application (the debugger guard may).
        app.extensions[EXTENSION_KEY] = state
        try:
            for component in state.components:
                component.init_app(app)
        except BaseException:
            del app.extensions[EXTENSION_KEY]
            state.stores.close()
            raise
        _install_hooks(app, state)

        from .cli import bastion_cli

        app.cli.add_command(bastion_cli)
        if config.development:
            app.logger.warning(
                "Flask-Bastion development profile: loopback hosts are not redirected to "
                "HTTPS, the session cookie is not Secure and DEBUG is allowed. Never deploy "
                "with BASTION_PROFILE='development'."
            )


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
        policy = state.policy_source
        self.policy_header = policy.header if policy is not None else ""
        self.policy_lower = self.policy_header.lower()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def bastion_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
        ) -> t.Any:
            self.add_headers(environ, headers, status)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, bastion_start_response)

    def add_headers(
        self, environ: WSGIEnvironment, headers: list[tuple[str, str]], status: str = "200 OK"
    ) -> None:
        """Extend ``headers`` with the plan of this request's view, in one pass; a header
        the response already has is never overwritten or repeated.

        A ``304 Not Modified`` gets no CSP: a cache updates the stored response's headers
        from a 304 (RFC 9111 section 4.3.4), and a fresh nonce there would no longer match
        the nonces in the cached page, whose scripts the browser would then block.
        """
        # The state the pipeline left in the environ, with the endpoint it found. Without
        # one (a request refused before the pipeline ran), or unrouted, Flask's request
        # of this context, not environ["werkzeug.request"]: any Request a view or a
        # library builds from the same environ replaces that one.
        state: RequestState | None = environ.get(ENVIRON_KEY)
        if state is None:
            state = request_state() if has_request_context() else RequestState()
        endpoint = state.endpoint
        if endpoint is None and has_request_context():
            rule = request.url_rule
            endpoint = rule.endpoint if rule is not None else None
        plan = self.plan_for(self.app, endpoint, environ["wsgi.url_scheme"] == "https")
        present = {name.lower() for name, _ in headers}
        if present.isdisjoint(plan.names):
            headers.extend(plan.static)
        else:
            headers.extend(h for h in plan.static if h[0].lower() not in present)
        if (
            plan.policy is not None
            and self.policy_lower not in present
            and not status.startswith("304")
        ):
            headers.append((self.policy_header, f"'nonce-{state.nonce}'".join(plan.policy)))
        if self.rid_lower not in present:
            headers.append((self.rid_header, state.request_id))
        if "content-length" not in present and not status.startswith(("204", "304")):
            # A streamed body is written after these headers: a CSRF token or session data
            # rendered into it could not make the response private any more, so it is
            # private from the start (unless the view chose its own Cache-Control).
            state.on_response(private_headers)
        state.present = present
        state.run_callbacks(status, headers)


def _install_hooks(app: Flask, state: BastionState) -> None:
    before_chain = state.components.before_chain
    # The hooks with work for each endpoint and kind of method: bounded by the routes.
    chains: dict[tuple[str | None, bool], tuple[Hook, ...]] = {}

    def bastion_before_request() -> None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        req.environ[ENVIRON_KEY] = current = RequestState()
        rule = req.url_rule
        current.endpoint = endpoint = rule.endpoint if rule is not None else None
        key = (endpoint, req.method in SAFE_METHODS)
        hooks = chains.get(key)
        if hooks is None:
            hooks = chains[key] = before_chain(*key)
        for hook in hooks:
            if hook(req, current) is not None:
                # A component ends a request only by raising. One that returns a
                # response (Flask's own hooks may) meant to refuse the request: letting
                # the view run would turn its refusal into a silent pass, so fail closed.
                raise TypeError(
                    f"{hook!r} returned a value; a component's before_request refuses a "
                    "request by raising (flask_bastion.refusal.refuse), never by returning."
                )

    # Bastion's before hook runs first, whatever the application registered before
    # init_app; the response layer runs after every Flask hook, on the final response.
    app.before_request_funcs.setdefault(None, []).insert(0, bastion_before_request)
    wsgi_app: WSGIApplication = ResponseLayer(app.wsgi_app, app, state)
    # Components that work at the WSGI level wrap it, the earliest stage outermost.
    for component in reversed(list(state.components)):
        wrap = getattr(component, "wrap_wsgi", None)
        if wrap is not None:
            wsgi_app = wrap(wsgi_app)
    app.wsgi_app = wsgi_app  # type: ignore[method-assign, assignment]
