"""Code checks (``17x``): injection sinks in the application's own modules and templates.

Each finding names its place (``"app/views.py:42"`` or ``"templates/note.html:7"``),
so a reviewed one is silenced alone: ``BASTION_SILENCED_CHECKS =
["bastion.W173:app/report.py:42"]``. The scans read source text (:mod:`ast`, Jinja's
parser); they never import or render anything. See :mod:`flask_bastion.codescan`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

from flask import Flask

from .. import codescan
from ..codescan import MAX_FILE_BYTES, all_application_files, find, templates
from ..codescan.injection import (
    constant_templates,
    markup_calls,
    sql_from_strings,
    template_from_values,
)
from ..codescan.templates import (
    MAX_TEMPLATE_BYTES,
    all_application_templates,
    application_templates,
    unescaped,
)
from ..config import BastionConfig
from .registry import WARNING, CheckMessage, message, register

W170 = message(
    WARNING,
    "A template turns escaping off for a value (|safe or {% autoescape false %}).",
    "A request or database value shown this way is cross-site scripting. Show user HTML "
    "with the `sanitize` filter, Markdown with the `markdown` filter, and everything else "
    "escaped; silence this finding by its place once reviewed.",
    "bastion.W170",
)
W171 = message(
    WARNING,
    "Markup(...) is built from a value in the application's code.",
    "Markup() declares its argument safe HTML; built from a request or database value it "
    "is cross-site scripting. Use markupsafe.escape(), Markup('<b>{}</b>').format(value) "
    "(which escapes the value) or flask_bastion.sanitize.sanitize_html().",
    "bastion.W171",
)
W172 = message(
    WARNING,
    "render_template_string() or from_string() compiles a template that is not a constant.",
    "A template built from a value is server-side template injection, which runs code. "
    "Keep templates in files or constants and pass values as variables.",
    "bastion.W172",
)
W173 = message(
    WARNING,
    "SQL is built from strings (f-string, %, + or .format) and sent to the database.",
    "A value pasted into SQL is SQL injection. Use bound parameters "
    "(text('... WHERE id = :id'), {'id': value}) or SQLAlchemy's expressions.",
    "bastion.W173",
)
W174 = message(
    WARNING,
    "The code checks stopped at their file limit; the files past it were not read.",
    "The finding says how many modules or templates were read out of how many; the limits "
    "(500 modules, 1,000 templates) bound the work in CI and have no setting. Review the "
    "unread files with another scanner (bandit, semgrep), then silence bastion.W174.",
    "bastion.W174",
)


def _about(message: CheckMessage, places: Iterable[str]) -> list[CheckMessage]:
    return [message.about(place) for place in places]


@register()
def check_unescaped_templates(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    base = Path(app.root_path).resolve()
    places: list[str] = []
    for path in application_templates(app):
        try:
            if path.stat().st_size > MAX_TEMPLATE_BYTES:
                continue
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        name = path.relative_to(base).as_posix()
        places.extend(f"{name}:{line}" for line in unescaped(app, source))

    # Templates kept in the code (render_template_string(PAGE, ...)) too, by the call.
    def in_code(tree: ast.AST) -> Iterator[ast.Call]:
        return (call for call, text in constant_templates(tree) if any(unescaped(app, text)))

    places.extend(find(app.import_name, in_code))
    return _about(W170, places)


@register()
def check_markup_from_values(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return _about(W171, find(app.import_name, markup_calls))


@register()
def check_templates_from_values(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return _about(W172, find(app.import_name, template_from_values))


@register()
def check_sql_from_strings(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return _about(W173, find(app.import_name, sql_from_strings))


@register()
def check_scan_limits(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    # Read the limits at run time: a test (or an operator's script) may lower them.
    counts = (
        ("modules", codescan.MAX_FILES, len(all_application_files(app.import_name))),
        ("templates", templates.MAX_TEMPLATES, len(all_application_templates(app))),
    )
    return [
        W174.about(f"{limit} of {total} {kind} read, {total - limit} not")
        for kind, limit, total in counts
        if total > limit
    ]


__all__ = ["MAX_FILE_BYTES", "W170", "W171", "W172", "W173", "W174"]
