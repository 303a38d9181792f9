"""Injection sinks in the application's Python code: SQL built from strings, and markup
or templates built from values.

Each finding is an expression that sends text the code assembled at run time to a place
that interprets it:

* **SQL from strings** (CWE-89). ``text(f"... {x}")``, ``execute("..." % x)``,
  ``execute("..." + x)``, ``"...".format(x)`` or ``literal_column(f"{x}")`` as the
  statement: a value pasted into SQL can end the string and add its own clauses. Bound
  parameters (``text("... :id")`` with ``{"id": x}``, or SQLAlchemy's expression
  language) never can.
* **Markup from values** (CWE-79). ``Markup(x)`` tells Jinja that ``x`` is already safe
  HTML; built from a request or database value, it is stored or reflected XSS. A
  constant, or a value passed through :func:`markupsafe.escape` or
  :func:`flask_bastion.sanitize.sanitize_html`, is not reported.
* **Templates from values** (CWE-1336). ``render_template_string(x)``,
  ``env.from_string(x)`` or ``jinja2.Template(x)`` with anything but a constant compiles
  ``x`` as a template: server-side template injection, which is code execution.

A sink is recognised under any name it is imported as (``from markupsafe import Markup
as M``, ``import flask; flask.render_template_string``), with its argument given by
position or keyword; a string assembled into a local variable first (``q = f"...";
execute(text(q))``) counts as assembled, and so does ``" ".join(parts)``. A string
assembled only from constants (``BASE + " WHERE id = :id"``, with ``BASE`` a module
constant) is not reported, nor is ``Markup(value)`` when the value was made safe in the
same function (``safe = escape(x)``).

The scan reads the source with :mod:`ast`; it never imports or runs it. It is a
reviewer's aid, not a proof: it reports the shape (a value passed in from another
function is not followed), and a finding a reviewer has checked is silenced with its ID
and location (``"bastion.W173:app/db.py:42"``).
"""

from __future__ import annotations

import ast
import typing as t
from collections.abc import Iterator

__all__ = [
    "SQL_CALLS",
    "constant_templates",
    "markup_calls",
    "sql_from_strings",
    "template_from_values",
]

#: Calls whose first argument is SQL, with the keyword that argument may be given as.
SQL_CALLS: dict[str, str] = {
    "text": "text",
    "literal_column": "text",
    "execute": "statement",
    "executemany": "statement",
    "exec_driver_sql": "statement",
    "executescript": "sql_script",
}
#: Calls that compile their first argument as a template, and its keyword.
_TEMPLATE_CALLS = {"render_template_string": "source", "from_string": "source"}
#: Calls that make a value safe to mark as markup.
_SAFE_WRAPPERS = frozenset(
    {"escape", "sanitize_html", "render_markdown", "csrf_field", "csrf_meta", "Markup"}
)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _imported_names(tree: ast.AST) -> dict[str, str]:
    """Local name -> dotted name it was imported as (``M`` -> ``markupsafe.Markup``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.expr, imported: dict[str, str]) -> str:
    """The dotted name of a called expression, through imports (``""`` if none)."""
    if isinstance(node, ast.Name):
        return imported.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, imported)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def _short(call: ast.Call, imported: dict[str, str]) -> str:
    return _dotted(call.func, imported).rpartition(".")[2]


def _argument(call: ast.Call, keyword: str) -> ast.expr | None:
    """The first argument of ``call``, given by position or as ``keyword``."""
    if call.args:
        return None if isinstance(call.args[0], ast.Starred) else call.args[0]
    return next((kw.value for kw in call.keywords if kw.arg == keyword), None)


class _Scope:
    """One module or function: what its names are assigned, to tell a string made of
    constants, one assembled from values, and a value made safe.

    :param constants: the module's constant names (:func:`_constant_names`).
    """

    def __init__(self, node: ast.AST, constants: frozenset[str], imported: dict[str, str]) -> None:
        self.constants = constants
        self.imported = imported
        self.assigned: dict[str, list[ast.expr]] = {}
        for child in _own_nodes(node):
            if isinstance(child, ast.Assign):
                for target in child.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(child.value)
            elif (
                isinstance(child, ast.AnnAssign | ast.AugAssign)
                and isinstance(child.target, ast.Name)
                and child.value is not None
            ):
                value = child.value
                if isinstance(child, ast.AugAssign):  # q += x is q = q + x
                    value = ast.BinOp(left=child.target, op=child.op, right=value)
                self.assigned.setdefault(child.target.id, []).append(value)

    def _name(self, node: ast.Name, seen: frozenset[str], test: t.Any) -> bool:
        """Whether every value the local ``node`` is assigned passes ``test``."""
        if node.id in seen:  # q += "..." refers to q itself: that adds nothing
            return True
        values = self.assigned.get(node.id, [])
        return bool(values) and all(test(v, seen | {node.id}) for v in values)

    def constant(self, node: ast.expr, seen: frozenset[str] = frozenset()) -> bool:
        """Whether ``node`` is a string made of constants only."""
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Name):
            return node.id in self.constants or self._name(node, seen, self.constant)
        if isinstance(node, ast.JoinedStr):
            return all(
                self.constant(part.value, seen) if isinstance(part, ast.FormattedValue) else True
                for part in node.values
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
            return self.constant(node.left, seen) and self.constant(node.right, seen)
        if isinstance(node, ast.Tuple | ast.List):
            return all(self.constant(element, seen) for element in node.elts)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("format", "format_map", "join")
            and self.constant(node.func.value, seen)
        ):
            arguments = [*node.args, *(kw.value for kw in node.keywords)]
            return all(self.constant(a, seen) for a in arguments)
        return False

    def built(self, node: ast.expr, seen: frozenset[str] = frozenset()) -> bool:
        """Whether ``node`` assembles a string from a value at run time: an f-string,
        ``%``, ``+``, ``str.format`` or ``str.join`` with a non-constant, or a local name
        assigned such a string."""
        if isinstance(node, ast.Name):
            values = () if node.id in seen else self.assigned.get(node.id, ())
            return any(self.built(v, seen | {node.id}) for v in values)
        if self.constant(node):
            return False
        if isinstance(node, ast.JoinedStr):
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return node.func.attr in ("format", "format_map") or (
                node.func.attr == "join" and isinstance(node.func.value, ast.Constant)
            )
        return False

    def safe(self, node: ast.expr, seen: frozenset[str] = frozenset()) -> bool:
        """Whether ``node`` is a constant, or a value made safe (``escape(x)``), directly
        or through a local name every assignment of which is such a value."""
        if self.constant(node):
            return True
        if isinstance(node, ast.Call):
            return _short(node, self.imported) in _SAFE_WRAPPERS
        return isinstance(node, ast.Name) and self._name(node, seen, self.safe)


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``scope``, not those of the functions defined in it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _scoped_calls(tree: ast.AST) -> Iterator[tuple[ast.Call, _Scope, dict[str, str]]]:
    """Each call of ``tree``, with the scope it is made in and the imported names."""
    imported = _imported_names(tree)
    constants = _constant_names(tree)
    for node in ast.walk(tree):
        if node is tree or isinstance(node, _SCOPES):
            scope = _Scope(node, constants, imported)
            for child in _own_nodes(node):
                if isinstance(child, ast.Call):
                    yield child, scope, imported


def _constant_names(tree: ast.AST) -> frozenset[str]:
    """The module-level names assigned once, a string made of constants (``PAGE =
    "<p>..."``, ``QUERY = BASE + " WHERE id = :id"``, ``COLUMNS = ("id", "name")``)."""
    counts: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            counts[node.id] = counts.get(node.id, 0) + 1
    module = _Scope(ast.Module(body=[], type_ignores=[]), frozenset(), {})
    for statement in tree.body if isinstance(tree, ast.Module) else []:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and counts.get(statement.targets[0].id) == 1
            and module.constant(statement.value)
        ):
            # In order: a constant may be built from the ones above it.
            module.constants |= {statement.targets[0].id}
    return module.constants


def sql_from_strings(tree: ast.AST) -> Iterator[ast.Call]:
    """Calls in ``tree`` that send SQL assembled from strings to the database."""
    for call, scope, imported in _scoped_calls(tree):
        keyword = SQL_CALLS.get(_short(call, imported))
        statement = _argument(call, keyword) if keyword else None
        if statement is not None and scope.built(statement):
            yield call


def markup_calls(tree: ast.AST) -> Iterator[ast.Call]:
    """``Markup(x)`` calls whose argument is neither a constant nor already made safe."""
    for call, scope, imported in _scoped_calls(tree):
        if _short(call, imported) != "Markup":
            continue
        value = _argument(call, "object")
        if value is not None and not scope.safe(value):
            yield call


def template_from_values(tree: ast.AST) -> Iterator[ast.Call]:
    """``render_template_string(x)``, ``from_string(x)`` and ``jinja2.Template(x)``
    calls with a non-constant template."""
    for call, scope, imported in _scoped_calls(tree):
        source = _template_source(call, imported)
        if source is not None and not scope.constant(source):
            yield call


def _template_source(call: ast.Call, imported: dict[str, str]) -> ast.expr | None:
    """The template argument of a call that compiles one, or ``None``."""
    name = _dotted(call.func, imported)
    short = name.rpartition(".")[2]
    keyword = _TEMPLATE_CALLS.get(short)
    if keyword is None and name.startswith("jinja2.") and short == "Template":
        keyword = "source"
    return _argument(call, keyword) if keyword else None


def _string_values(tree: ast.AST) -> dict[str, str]:
    """The text of each module constant that is a plain string (``PAGE = "<p>..."``)."""
    constants = _constant_names(tree)
    return {
        statement.targets[0].id: statement.value.value
        for statement in (tree.body if isinstance(tree, ast.Module) else [])
        if isinstance(statement, ast.Assign)
        and isinstance(statement.targets[0], ast.Name)
        and statement.targets[0].id in constants
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    }


def constant_templates(tree: ast.AST) -> Iterator[tuple[ast.Call, str]]:
    """Each call compiling a constant template (a string literal, or a module constant
    holding one), with the template's text: its ``|safe`` are as dangerous as those of
    a template file (``render_template_string(PAGE, x=request.args["x"])``)."""
    values = _string_values(tree)
    for call, _scope, imported in _scoped_calls(tree):
        source = _template_source(call, imported)
        if isinstance(source, ast.Constant) and isinstance(source.value, str):
            yield call, source.value
        elif isinstance(source, ast.Name) and source.id in values:
            yield call, values[source.id]
