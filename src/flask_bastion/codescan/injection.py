"""Injection sinks in the application's Python code: SQL built from strings, and markup
or templates built from values.

Each finding is an expression that sends text the code assembled at run time to a place
that interprets it:

* **SQL from strings** (CWE-89). ``text(f"... {x}")``, ``execute("..." % x)``,
  ``execute("..." + x)`` or ``"...".format(x)`` as the statement: a value pasted into SQL
  can end the string and add its own clauses. Bound parameters (``text("... :id")`` with
  ``{"id": x}``, or SQLAlchemy's expression language) never can.
* **Markup from values** (CWE-79). ``Markup(x)`` tells Jinja that ``x`` is already safe
  HTML; built from a request or database value, it is stored or reflected XSS. A
  constant, or a value passed through :func:`markupsafe.escape` or
  :func:`flask_bastion.sanitize.sanitize_html`, is not reported.
* **Templates from values** (CWE-1336). ``render_template_string(x)`` with anything but a
  constant compiles ``x`` as a template: server-side template injection, which is code
  execution.

The scan reads the source with :mod:`ast`; it never imports or runs it. It is a
reviewer's aid, not a proof: it reports the shape, and a finding a reviewer has checked
is silenced with its ID and location (``"bastion.W173:app/db.py:42"``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

__all__ = ["SQL_CALLS", "markup_calls", "sql_from_strings", "template_from_values"]

#: Calls whose first argument is SQL.
SQL_CALLS = frozenset({"text", "execute", "executemany", "exec_driver_sql", "executescript"})
#: Calls that make a value safe to mark as markup.
_SAFE_WRAPPERS = frozenset(
    {"escape", "sanitize_html", "render_markdown", "csrf_field", "csrf_meta", "Markup"}
)


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _built_string(node: ast.expr) -> bool:
    """Whether ``node`` assembles a string at run time: an f-string with a value, ``%``
    formatting, concatenation with a non-constant, or ``str.format``."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return not (isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format"
    return False


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def sql_from_strings(tree: ast.AST) -> Iterator[ast.Call]:
    """Calls in ``tree`` that send SQL assembled from strings to the database."""
    for call in _calls(tree):
        if _name(call) in SQL_CALLS and call.args and _built_string(call.args[0]):
            yield call


def _constant_names(tree: ast.AST) -> frozenset[str]:
    """The module-level names assigned a string constant once (``PAGE = "<p>..."``)."""
    body = tree.body if isinstance(tree, ast.Module) else []
    counts: dict[str, int] = {}
    constants = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            counts[node.id] = counts.get(node.id, 0) + 1
    for statement in body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
        ):
            constants.add(statement.targets[0].id)
    return frozenset(name for name in constants if counts.get(name) == 1)


def _is_constant(node: ast.expr, constants: frozenset[str] = frozenset()) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.JoinedStr):
        return not any(isinstance(part, ast.FormattedValue) for part in node.values)
    return False


def markup_calls(tree: ast.AST) -> Iterator[ast.Call]:
    """``Markup(x)`` calls whose argument is neither a constant nor already made safe."""
    constants = _constant_names(tree)
    for call in _calls(tree):
        if _name(call) != "Markup" or not call.args:
            continue
        arg = call.args[0]
        if _is_constant(arg, constants):
            continue
        if isinstance(arg, ast.Call) and _name(arg) in _SAFE_WRAPPERS:
            continue
        yield call


def template_from_values(tree: ast.AST) -> Iterator[ast.Call]:
    """``render_template_string(x)`` and ``from_string(x)`` calls with a non-constant
    template."""
    constants = _constant_names(tree)
    for call in _calls(tree):
        if _name(call) not in ("render_template_string", "from_string") or not call.args:
            continue
        if not _is_constant(call.args[0], constants):
            yield call
