"""Content-Security-Policy checks (``05x``): a CSP that is off, only reports, or lets
injected script run (inline script without a nonce, ``eval``, scripts from any host).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping

from flask import Flask

from ..config import BastionConfig
from ..context import get_state
from ..csp import OVERRIDES
from ..markers import View, marked_views
from ..origins import is_public_suffix
from .registry import WARNING, CheckMessage, message, register

W051 = message(
    WARNING,
    "Content-Security-Policy is off.",
    "The CSP is the browser's last line against XSS; keep BASTION_CSP_ENABLED on.",
    "bastion.W051",
    settings=("BASTION_CSP_ENABLED",),
)
W052 = message(
    WARNING,
    "Content-Security-Policy is report-only: violations are reported, not blocked.",
    "Report-only is for rolling a policy out; turn BASTION_CSP_REPORT_ONLY off once the "
    "reports are clean.",
    "bastion.W052",
    settings=("BASTION_CSP_REPORT_ONLY",),
)
W053 = message(
    WARNING,
    "script-src (or script-src-elem, script-src-attr) allows 'unsafe-inline' without a nonce "
    "or hash.",
    "Inline script is exactly what an XSS injects; use nonces (csp_nonce()) instead.",
    "bastion.W053",
    settings=("BASTION_CSP_POLICY",),
)
W054 = message(
    WARNING,
    "script-src allows 'unsafe-eval'.",
    "eval() turns injected strings into code; remove 'unsafe-eval'.",
    "bastion.W054",
    settings=("BASTION_CSP_POLICY",),
)
W055 = message(
    WARNING,
    "script-src allows scripts from any host (*, http:, https: or data:).",
    "An injected <script src> can then load the attacker's script; use nonces with "
    "'strict-dynamic' (the default policy) or list exact hosts.",
    "bastion.W055",
    settings=("BASTION_CSP_POLICY",),
)
W056 = message(
    WARNING,
    "The Content-Security-Policy has neither script-src nor default-src: scripts are not "
    "restricted.",
    "Keep the default policy's script-src (\"'nonce'\", \"'strict-dynamic'\") or add a "
    "default-src.",
    "bastion.W056",
    settings=("BASTION_CSP_POLICY",),
)

#: Sources that admit a script from any server of a scheme, or from the page itself
#: (``data:``), so that injected markup can load whatever script it likes.
_ANY_HOST_SOURCES = frozenset({"http:", "https:", "data:"})
#: How nonce and hash sources start; "'nonce'" is the placeholder for the response's nonce.
_NONCE_OR_HASH = ("'nonce", "'sha256-", "'sha384-", "'sha512-")
#: ``*`` as the host of a source (``*``, ``https://*``, ``*:443``), or a wildcard over a
#: host (``*.com``, ``*.co.uk``, ``*.github.io``): the group is the host after ``*.``.
_WILDCARD_HOST_RE = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://)?\*(?:\.([a-z0-9.-]+))?(?::[0-9*]+)?(?:/.*)?", re.I
)


def _script_sources(policy: Mapping[str, tuple[str, ...]], directive: str) -> tuple[str, ...]:
    """The sources that govern ``directive``: ``script-src-elem`` and ``-attr`` fall back
    to ``script-src``, which falls back to ``default-src`` (CSP Level 3)."""
    for name in (directive, "script-src", "default-src"):
        if name in policy:
            return policy[name]
    return ()


def _has_nonce_or_hash(sources: tuple[str, ...]) -> bool:
    return any(s.lower().startswith(_NONCE_OR_HASH) for s in sources)


@register(deploy=True)
def check_csp_enforced(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if not config.csp.enabled:
        return [W051]
    return [W052] if config.csp.report_only else []


Policy = Mapping[str, tuple[str, ...]]


def _policies(app: Flask, config: BastionConfig) -> Iterator[tuple[str, Policy]]:
    """The application's policy (``""``), then the policy of each view that changes it
    with :func:`~flask_bastion.csp.csp`, by endpoint: a view can undo the CSP too."""
    yield "", config.csp.policy
    if not config.csp.enabled:
        return
    component = get_state(app).component("csp")
    for view in marked_views(app):
        if view.get(OVERRIDES) is not None:
            yield str(view.endpoint), component.policy_for(view, True)


def _each_policy(
    app: Flask, config: BastionConfig, message: CheckMessage, unsafe: Callable[[Policy], bool]
) -> list[CheckMessage]:
    """``message`` for the application's policy if ``unsafe``; otherwise ``message`` about
    each view whose own policy is."""
    found = []
    for endpoint, policy in _policies(app, config):
        if unsafe(policy):
            if not endpoint:
                return [message]  # every view inherits it: one finding says it all
            found.append(message.about(endpoint))
    return found


def _inline_script(policy: Policy) -> bool:
    # A nonce or hash makes every browser since CSP Level 2 ignore 'unsafe-inline', so it
    # is then only a fallback for older ones (web.dev/articles/strict-csp).
    return any(
        "'unsafe-inline'" in sources and not _has_nonce_or_hash(sources)
        for sources in (_script_sources(policy, d) for d in ("script-src-elem", "script-src-attr"))
    )


def _eval(policy: Policy) -> bool:
    # eval() is governed by script-src alone (with default-src as its fallback).
    return "'unsafe-eval'" in _script_sources(policy, "script-src")


def _any_host(policy: Policy) -> bool:
    for directive in ("script-src-elem", "script-src"):
        sources = _script_sources(policy, directive)
        # With 'strict-dynamic' and a nonce or hash, CSP Level 3 browsers ignore host and
        # scheme sources; those are the fallback for older browsers in the strict CSP.
        if "'strict-dynamic'" in sources and _has_nonce_or_hash(sources):
            continue
        if any(_any_host_source(s) for s in sources):
            return True
    return False


def _any_host_source(source: str) -> bool:
    """Whether ``source`` admits hosts anyone can set up: a scheme source, ``*``, or a
    wildcard over a public suffix (``*.com``, ``*.co.uk``, ``*.github.io``)."""
    if source.lower() in _ANY_HOST_SOURCES:
        return True
    match = _WILDCARD_HOST_RE.fullmatch(source)
    return match is not None and (match[1] is None or is_public_suffix(match[1]))


def _unrestricted(policy: Policy) -> bool:
    return "script-src" not in policy and "default-src" not in policy


@register()
def check_script_src(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [
        *_each_policy(app, config, W053, _inline_script),
        *_each_policy(app, config, W054, _eval),
    ]


@register()
def check_script_hosts(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return _each_policy(app, config, W055, _any_host)


@register()
def check_script_restricted(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return _each_policy(app, config, W056, _unrestricted)


W057 = message(
    WARNING,
    "A view loosens the Content-Security-Policy (@csp).",
    "The view allows sources the application's policy does not, or drops a directive. "
    "Keep the change to the one source the view needs; silence one reviewed view with "
    "'bastion.W057:<endpoint>' in BASTION_SILENCED_CHECKS.",
    "bastion.W057",
    settings=("BASTION_CSP_POLICY",),
)


def loosened_directives(
    base: Mapping[str, tuple[str, ...]], view: Mapping[str, tuple[str, ...]]
) -> list[str]:
    """The directives in which ``view``'s policy allows more than ``base``: dropped
    directives, and directives with a source that ``base`` (or, for a fetch directive it
    lacks, its ``default-src``) does not allow."""
    found = [name for name in base if name not in view]
    for name, sources in view.items():
        allowed = base.get(name)
        if allowed is None and name.endswith("-src"):
            allowed = base.get("default-src")
        if sources == ("'none'",):  # allows nothing: never looser
            continue
        if allowed is not None and not set(sources) <= set(allowed):
            found.append(name)
    return found


@register(deploy=True)
def check_loosened_csp_views(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    component = get_state(app).component("csp")
    base = component.policy_for(View(app, None), True)
    if base is None:  # W051 reports the whole application
        return []
    return [
        W057.about(str(view.endpoint))
        for view in marked_views(app)
        if view.get(OVERRIDES) is not None
        and loosened_directives(base, component.policy_for(view, True))
    ]
