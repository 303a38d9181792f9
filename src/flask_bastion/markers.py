"""View markers: how every per-view decorator (``csrf_exempt``, ``https_exempt``,
``no_store``, ``security_headers``, ``csp`` and the ones to come) records its setting.

One helper, so every decorator works the same on a view function, a class-based view
and a blueprint, above or below ``@app.route``, and is found the same way at request
time. A decorator validates its arguments first, when it is applied, and then calls
:func:`mark`; the pipeline reads the marks with :class:`View`.

A mark on a blueprint covers exactly the routes that blueprint (and the blueprints
nested in it) registers, under every name it is registered with. Flask derives
``request.blueprints`` from the endpoint's *name*, so an application route named
``hooks.delete`` would look like part of a blueprint ``hooks``; marks follow the
registration instead: while a marked blueprint is registered, each endpoint it adds is
recorded for that application.
"""

from __future__ import annotations

import typing as t

from flask import Blueprint, Flask
from flask.blueprints import BlueprintSetupState

#: Attribute holding the marks of a view function, view class or blueprint.
MARKS_ATTR = "_bastion_marks"
#: ``app.extensions`` key: endpoint -> marks inherited from the blueprints that added it.
ENDPOINT_MARKS = "bastion.endpoint_marks"

Target = t.TypeVar("Target")


def marks_of(target: object) -> dict[str, t.Any]:
    """The marks set directly on ``target`` (empty when none)."""
    found: dict[str, t.Any] | None = getattr(target, MARKS_ATTR, None)
    return found if found is not None else {}


def mark(target: Target, key: str, value: object) -> Target:
    """Set mark ``key`` to ``value`` on a view function, view class or blueprint.

    A mark merges with the target's other marks; for a mapping value it merges with an
    earlier mapping under the same key, so stacked decorators combine.

    :raises AssertionError: for a blueprint that is already registered (its routes are
        on the application without the mark), as Flask's own blueprint setup methods do.
    """
    current = dict(marks_of(target))
    previous = current.get(key)
    if isinstance(previous, dict) and isinstance(value, dict):
        value = {**previous, **value}
    current[key] = value
    if isinstance(target, Blueprint):
        target.record(_tag_routes)  # refuses a registered blueprint
        # record() appends, but the tagger must run first to see every route; once.
        target.deferred_functions.pop()
        if _tag_routes not in target.deferred_functions:
            target.deferred_functions.insert(0, _tag_routes)
    setattr(target, MARKS_ATTR, current)
    return target


def _tag_routes(state: BlueprintSetupState) -> None:
    """Deferred setup function of marked blueprints and the blueprints nested in them:
    records the marks for every endpoint this registration adds."""
    # Nested blueprints register after this one's setup functions ran, with their own
    # state: hand them the tagger too. It decides per registration, since a nested
    # blueprint may also be registered elsewhere, outside the marked one.
    for child, _options in state.blueprint._blueprints:
        if _tag_routes not in child.deferred_functions:
            child.deferred_functions.insert(0, _tag_routes)
    name = f"{state.name_prefix}.{state.name}".lstrip(".")
    # The registered names of this blueprint and its parents, outermost first, so an
    # inner blueprint's mark wins over its parent's.
    lineage = [name.rsplit(".", depth)[0] for depth in range(name.count("."), -1, -1)]
    inherited: dict[str, t.Any] = {}
    for registered in lineage:
        inherited.update(marks_of(state.app.blueprints.get(registered)))
    if not inherited:
        return
    table: dict[str, dict[str, t.Any]] = state.app.extensions.setdefault(ENDPOINT_MARKS, {})
    add_url_rule = state.add_url_rule

    def add_and_tag(
        rule: str,
        endpoint: str | None = None,
        view_func: t.Callable[..., t.Any] | None = None,
        **options: t.Any,
    ) -> None:
        add_url_rule(rule, endpoint, view_func, **options)
        # The endpoint exactly as BlueprintSetupState.add_url_rule names it.
        full = f"{name}.{endpoint or getattr(view_func, '__name__', '')}"
        table[full] = {**table.get(full, {}), **inherited}

    state.add_url_rule = add_and_tag  # type: ignore[method-assign]


class View:
    """A routed view as the pipeline sees it: its endpoint and its marks.

    Marks are looked up on the view function, then its view class, then the blueprints
    that registered the endpoint; the first found wins.
    """

    __slots__ = ("endpoint", "func", "marks")

    def __init__(self, app: Flask, endpoint: str | None) -> None:
        #: The endpoint, ``None`` for an unrouted request (404, 405).
        self.endpoint = endpoint
        func = app.view_functions.get(endpoint) if endpoint else None
        #: The view function, or ``None``.
        self.func = func
        inherited = app.extensions.get(ENDPOINT_MARKS, {}).get(endpoint, {}) if endpoint else {}
        #: Every mark of the view, resolved.
        self.marks: dict[str, t.Any] = {
            **inherited,
            **marks_of(getattr(func, "view_class", None)),
            **marks_of(func),
        }

    def get(self, key: str, default: t.Any = None) -> t.Any:
        """The mark ``key``, or ``default``."""
        return self.marks.get(key, default)


def marked_views(app: Flask) -> t.Iterator[View]:
    """Every routed view of ``app`` that carries at least one mark, by endpoint."""
    for endpoint in sorted(app.view_functions):
        view = View(app, endpoint)
        if view.marks:
            yield view
