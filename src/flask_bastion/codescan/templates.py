"""Autoescaping switched off in the application's own Jinja templates.

Jinja escapes every value it inserts into an HTML template; ``|safe`` and
``{% autoescape false %}`` turn that off for one value or a whole block. Applied to a
request or database value, that is cross-site scripting (CWE-79). The safe ways to show
user HTML are the ``sanitize`` filter (:mod:`flask_bastion.sanitize`) or a value made
safe in Python with :func:`~flask_bastion.sanitize.sanitize_html`.

Templates are parsed with the application's Jinja environment (never rendered): the
files, and the constant templates of the code
(:func:`~flask_bastion.codescan.injection.constant_templates`). A
``|safe`` on literals only (``"<br>"|safe``) is not reported; ``{% autoescape %}`` with
anything but a true constant (``{% autoescape flag %}``) is, as is
``{% filter safe %}``.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterator
from pathlib import Path

from jinja2 import TemplateSyntaxError, nodes

if t.TYPE_CHECKING:
    from flask import Flask

__all__ = ["all_application_templates", "application_templates", "unescaped"]

#: Template files larger than this are skipped.
MAX_TEMPLATE_BYTES = 500_000
#: At most this many templates are read (bounded work in CI); ``bastion.W174`` reports
#: the templates left unread.
MAX_TEMPLATES = 1_000
#: Filters whose output is safe HTML already: ``|safe`` after them changes nothing.
_MAKES_SAFE = frozenset({"sanitize", "markdown", "escape", "e", "forceescape", "tojson"})
_SUFFIXES = (".html", ".htm", ".xml", ".xhtml", ".svg", ".jinja", ".jinja2", ".j2", ".txt")


def application_templates(app: Flask) -> list[Path]:
    """The template files the code checks read: the first :data:`MAX_TEMPLATES` of
    :func:`all_application_templates`."""
    return all_application_templates(app)[:MAX_TEMPLATES]


def all_application_templates(app: Flask) -> list[Path]:
    """The template files of ``app`` and of its blueprints that live under the
    application's own root folder (never an extension's), sorted."""
    root = Path(app.root_path).resolve()
    folders = []
    for owner in (app, *app.blueprints.values()):
        if owner.template_folder is None:
            continue
        folder = (Path(owner.root_path) / owner.template_folder).resolve()
        if folder.is_relative_to(root) and folder.is_dir():
            folders.append(folder)
    return sorted({p for folder in folders for p in folder.rglob("*") if p.suffix in _SUFFIXES})


def unescaped(app: Flask, source: str) -> Iterator[int]:
    """The line numbers of ``source`` where escaping is turned off for a non-constant."""
    try:
        tree = app.jinja_env.parse(source)
    except TemplateSyntaxError:
        return
    for found in tree.find_all(nodes.Filter):
        inner = found.node
        if found.name != "safe" or _constant(inner):
            continue
        if isinstance(inner, nodes.Filter) and inner.name in _MAKES_SAFE:
            continue
        yield found.lineno
    for block in tree.find_all(nodes.ScopedEvalContextModifier):
        # Only a constant true keeps escaping on: {% autoescape flag %} may be off.
        if any(
            opt.key == "autoescape" and not (isinstance(opt.value, nodes.Const) and opt.value.value)
            for opt in block.options
        ):
            yield block.lineno


def _constant(node: nodes.Node | None) -> bool:
    """Whether ``node`` is made of literals only (``"<br>"``, ``"<b>" ~ "</b>"``): no
    variable, attribute or call of the template's context in it. ``None`` is the body
    of ``{% filter safe %}``, never constant."""
    if node is None:
        return False
    return not isinstance(node, nodes.Name) and next(node.find_all(nodes.Name), None) is None
