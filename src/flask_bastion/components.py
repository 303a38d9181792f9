"""The component shape and the ordered registry that :class:`~flask_bastion.Bastion`
composes into one before-request function and one response step.

Every protection is a component: an object with a ``name``, a :class:`Stage` and an
``init_app(app)``, plus any of three hooks:

``before_request(request, state)``
    runs before the view, in stage order; it returns ``None`` to let the request go on
    and refuses it by raising (a :class:`~flask_bastion.exceptions.Rejection` through
    :func:`~flask_bastion.refusal.refuse`, or an HTTPS redirect). Nothing else ends a
    request early: a hook that returns a value (a response meant as a refusal) fails
    the request with a 500 rather than letting the view run.
``runs_for(endpoint, safe)``
    whether ``before_request`` has anything to do for requests to ``endpoint`` (``None``
    when unrouted) with a safe method (``safe``, one of :data:`SAFE_METHODS`) or an
    unsafe one. Asked once per endpoint and kind of method, in an application context;
    a component answering ``False`` costs those requests nothing. Without it, the
    component runs for every request.
``view_headers(view, https)``
    the static headers of a view's responses, computed once per view and scheme.
``view_policy(view, https)``
    a header whose value holds the response's nonce, split around it (the CSP).

Headers that depend on the request (``RateLimit``, ``Retry-After``, ``Vary``) are added by
a callback the component registers for that request only, with
:meth:`~flask_bastion.context.RequestState.on_response`.

The stages are the named positions of the pipeline. A component declares its stage and
the registry keeps the stages in order, and the components of one stage in the order
they were added; an application adds its own with ``Bastion(app, components=[...])`` or
:meth:`~flask_bastion.Bastion.add_component`, at the stage it names.
"""

from __future__ import annotations

import enum
import typing as t
from collections.abc import Iterable, Sequence

from flask import Flask, Request

from .context import RequestState
from .exceptions import ConfigurationError

if t.TYPE_CHECKING:
    from .config import BastionConfig


#: The methods that change nothing (RFC 9110 section 9.2.1), as the pipeline, the
#: forgery check and the rate limits count them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: A bound ``before_request`` method.
Hook = t.Callable[[Request, RequestState], None]


class Stage(enum.IntEnum):
    """The named positions of the pipeline, in request order."""

    #: Request ID, the debugger guard, malformed input and size limits.
    INPUT = 10
    #: The HTTPS redirect.
    TRANSPORT = 20
    #: IP allow and deny lists, temporary bans.
    FILTER = 30
    #: Rate limits.
    LIMIT = 40
    #: The server-side session.
    SESSION = 50
    #: The user: session login, bearer token, MFA state.
    AUTHENTICATE = 60
    #: Cross-site request forgery.
    FORGERY = 70
    #: The application's own checks that need the user (authorization, feature flags).
    AUTHORIZE = 80
    #: Response headers only: security headers and the CSP.
    RESPONSE = 90
    #: Runs last: the audit record of the request.
    AUDIT = 100


@t.runtime_checkable
class Component(t.Protocol):
    """What every component has."""

    #: Unique within one application; names the component in errors and docs.
    name: str
    #: Where the component runs.
    stage: Stage

    def init_app(self, app: Flask) -> None:
        """Register what the component needs on ``app`` (template globals, handlers)."""


@t.runtime_checkable
class BeforeRequest(t.Protocol):
    """A component that looks at the request before the view runs."""

    def before_request(self, request: Request, state: RequestState) -> None:
        """Return to let the request go on; raise to end it."""


@t.runtime_checkable
class RunsFor(t.Protocol):
    """A component whose ``before_request`` has nothing to do for some views."""

    def runs_for(self, endpoint: str | None, safe: bool) -> bool:
        """Whether ``before_request`` runs for requests to ``endpoint`` with a safe
        (``safe``) or unsafe method."""


@t.runtime_checkable
class ViewHeaders(t.Protocol):
    """A component that adds static headers to a view's responses."""

    def view_headers(self, view: object, https: bool) -> list[tuple[str, str]]:
        """The headers of ``view``'s responses (``view`` is ``None`` when unrouted)."""


@t.runtime_checkable
class ViewPolicy(t.Protocol):
    """A component that sends one header holding the response's nonce."""

    #: The header's name.
    header: str

    def view_policy(self, view: object, https: bool) -> list[str] | None:
        """The header's value split around the nonce, or ``None`` for no header."""


#: A factory of a built-in component from the application's configuration.
Factory = t.Callable[["BastionConfig"], Component]


class Registry:
    """The components of one application, in pipeline order."""

    def __init__(self, components: Iterable[Component] = ()) -> None:
        self._components: list[Component] = []
        for component in components:
            self.add(component)

    def add(self, component: Component) -> None:
        """Add ``component`` after every component of its stage or an earlier one.

        :raises ConfigurationError: when it is not a component or its name is taken.
        """
        if not isinstance(component, Component) or not isinstance(component.stage, Stage):
            raise ConfigurationError(
                "components",
                f"{component!r} is not a component: it needs a name, a Stage and init_app().",
            )
        if any(c.name == component.name for c in self._components):
            raise ConfigurationError(
                "components", f"a component named {component.name!r} is already registered."
            )
        at = next(
            (i for i, c in enumerate(self._components) if c.stage > component.stage),
            len(self._components),
        )
        self._components.insert(at, component)

    def __iter__(self) -> t.Iterator[Component]:
        return iter(self._components)

    def __len__(self) -> int:
        return len(self._components)

    def __getitem__(self, name: str) -> Component:
        for component in self._components:
            if component.name == name:
                return component
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """The component names in pipeline order."""
        return [c.name for c in self._components]

    def before_chain(self, endpoint: str | None, safe: bool) -> tuple[Hook, ...]:
        """The bound ``before_request`` methods that run for requests to ``endpoint``
        with a safe (``safe``) or unsafe method, in order: composed on the first such
        request and kept by the pipeline."""
        return tuple(
            c.before_request
            for c in self._components
            if isinstance(c, BeforeRequest)
            and (not isinstance(c, RunsFor) or c.runs_for(endpoint, safe))
        )

    def header_sources(self) -> Sequence[ViewHeaders]:
        """The components that add static per-view headers, in order."""
        return [c for c in self._components if isinstance(c, ViewHeaders)]

    def policy_source(self) -> ViewPolicy | None:
        """The component that sends the nonce-holding header, if any (at most one)."""
        sources = [c for c in self._components if isinstance(c, ViewPolicy)]
        if len(sources) > 1:
            raise ConfigurationError(
                "components", "only one component may send a nonce-holding header."
            )
        return sources[0] if sources else None
