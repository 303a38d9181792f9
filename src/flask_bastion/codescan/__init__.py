"""Static checks over the application's own source code, for ``flask bastion check``.

Some unsafe settings never exist at the moment ``check`` runs: ``app.run(debug=True)``
under ``if __name__ == "__main__":`` switches the debugger on only when the file is run
as a script, which ``flask bastion check`` never does. Such calls are found by reading
the application's modules with :mod:`ast` (parsed, never imported or executed).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path

#: A package with more modules than this is scanned only this far (bounded work in CI);
#: ``bastion.W174`` reports the modules left unread.
MAX_FILES = 500
#: Files larger than this are skipped (generated code, vendored bundles).
MAX_FILE_BYTES = 1_000_000


def application_files(import_name: str) -> list[Path]:
    """The source files of the application's module, or of its whole package: the first
    :data:`MAX_FILES` of them (:func:`all_application_files` has the rest)."""
    return all_application_files(import_name)[:MAX_FILES]


def all_application_files(import_name: str) -> list[Path]:
    """Every source file of the application's module or package (except ``tests/``),
    sorted: the files the code checks would read without :data:`MAX_FILES`."""
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):  # "__main__" or a module that cannot be found
        spec = None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return []
    origin = Path(spec.origin)
    if spec.submodule_search_locations is None:
        return [origin]
    root = origin.parent
    return sorted(p for p in root.rglob("*.py") if "tests" not in p.relative_to(root).parts)


def _is_off(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and not node.value


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def debugger_calls(tree: ast.AST) -> Iterator[ast.Call]:
    """Calls in ``tree`` that start Werkzeug's debugger.

    ``x.run(debug=...)``, ``run_simple(..., use_debugger=...)`` (any value but a false
    constant: ``debug=os.environ.get("DEBUG")`` can be on) and ``DebuggedApplication(...)``.
    """
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name == "DebuggedApplication":
            yield node
            continue
        keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        flags: tuple[str, ...] = ()
        if name == "run":
            flags = ("debug", "use_debugger")
        elif name == "run_simple":
            flags = ("use_debugger",)
        if any(flag in keywords and not _is_off(keywords[flag]) for flag in flags):
            yield node


def parsed_modules(import_name: str) -> Iterator[tuple[Path, ast.AST]]:
    """Each readable source file of the application, with its syntax tree. A file is
    parsed once for all the code checks of a run (:func:`_parse` keeps its tree while its
    size and modification time stay the same)."""
    for path in application_files(import_name):
        try:
            stat = path.stat()
            if stat.st_size > MAX_FILE_BYTES:
                continue
            yield path, _parse(str(path), stat.st_mtime_ns, stat.st_size)
        except (OSError, SyntaxError, ValueError):
            continue


@functools.lru_cache(maxsize=256)
def _parse(path: str, mtime_ns: int, size: int) -> ast.AST:
    """The syntax tree of ``path``; ``mtime_ns`` and ``size`` are part of the cache key,
    so an edited file is parsed again."""
    with open(path, "rb") as source:
        return ast.parse(source.read(), filename=path)


def find(import_name: str, finder: Callable[[ast.AST], Iterator[ast.expr]]) -> list[str]:
    """``"path:line"`` of each node ``finder`` yields in the application's code; the path
    is relative to the folder that holds the application's package, so a finding keeps
    its name on every machine (and can be silenced by it)."""
    found: list[str] = []
    for path, tree in parsed_modules(import_name):
        name = path.relative_to(_base(import_name)).as_posix()
        found.extend(f"{name}:{node.lineno}" for node in finder(tree))
    return found


def _base(import_name: str) -> Path:
    """The folder that holds the application's module or package."""
    spec = importlib.util.find_spec(import_name)
    origin = Path(t.cast(str, t.cast(t.Any, spec).origin))
    return origin.parent.parent if origin.name == "__init__.py" else origin.parent


def starts_debugger(import_name: str) -> list[str]:
    """``"path:line"`` of each call in the application's code that starts the debugger."""
    return find(import_name, debugger_calls)
