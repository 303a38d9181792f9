"""Attacks on the code checks (W170-W173): sinks hidden behind import aliases, keyword
arguments, local variables and ``str.join`` (false negatives), and strings made of
constants only (false positives)."""

from __future__ import annotations

import ast
import typing as t
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from flask_bastion.codescan.injection import (
    constant_templates,
    markup_calls,
    sql_from_strings,
    template_from_values,
)
from flask_bastion.codescan.templates import unescaped

Finder = Callable[[ast.AST], Iterator[ast.Call]]


def _found(finder: Finder, source: str) -> list[int]:
    return [call.lineno for call in finder(ast.parse(source))]


_HIDDEN: list[t.Any] = [
    pytest.param(
        markup_calls,
        "from markupsafe import Markup as M\ndef f(x):\n    return M(x)\n",
        id="markup-alias",
    ),
    pytest.param(
        markup_calls,
        "from markupsafe import Markup\ndef f(x):\n    return Markup(object=x)\n",
        id="markup-keyword",
    ),
    pytest.param(
        markup_calls,
        "from markupsafe import Markup, escape\ndef f(x):\n    v = escape(x)\n    v = x\n"
        "    return Markup(v)\n",
        id="markup-reassigned-raw",
    ),
    pytest.param(
        template_from_values,
        "from flask import render_template_string as rts\ndef f(x):\n    return rts(x)\n",
        id="template-alias",
    ),
    pytest.param(
        template_from_values,
        "import flask\ndef f(x):\n    return flask.render_template_string(source=x)\n",
        id="template-keyword",
    ),
    pytest.param(
        template_from_values,
        "import jinja2\ndef f(x):\n    return jinja2.Template(x).render()\n",
        id="jinja2-template",
    ),
    pytest.param(
        sql_from_strings,
        "from sqlalchemy import text as sql\n"
        "def f(s, x):\n    return s.execute(sql(f'SELECT {x}'))\n",
        id="text-alias",
    ),
    pytest.param(
        sql_from_strings,
        "from sqlalchemy import text\ndef f(s, x):\n    q = f'SELECT * FROM t WHERE a = {x}'\n"
        "    return s.execute(text(q))\n",
        id="f-string-through-a-variable",
    ),
    pytest.param(
        sql_from_strings,
        "def f(s, x):\n    q = 'SELECT * FROM t'\n    q += ' WHERE a = ' + x\n"
        "    return s.execute(q)\n",
        id="augmented-assignment",
    ),
    pytest.param(
        sql_from_strings,
        "def f(conn, x):\n    return conn.exec_driver_sql(statement='SELECT %s' % x)\n",
        id="exec-driver-sql-keyword",
    ),
    pytest.param(
        sql_from_strings,
        "from sqlalchemy import text\n"
        "def f(s, x):\n    return s.execute(text(' '.join(['SELECT', x])))\n",
        id="join",
    ),
    pytest.param(
        sql_from_strings,
        "from sqlalchemy import literal_column\ndef f(x):\n    return literal_column(f'{x}')\n",
        id="literal-column",
    ),
    pytest.param(
        sql_from_strings,
        "def f(s, x):\n    return s.execute('SELECT {a}'.format_map({'a': x}))\n",
        id="format-map",
    ),
]


@pytest.mark.parametrize(("finder", "source"), _HIDDEN)
def test_hidden_sinks_are_found(finder: Finder, source: str) -> None:
    """Each sink is reported on the line of the call, however it is spelled."""
    assert _found(finder, source) == [source.count("\n")]


_CONSTANT: list[t.Any] = [
    pytest.param(
        sql_from_strings,
        "from sqlalchemy import text\nBASE = 'SELECT * FROM t'\n"
        "def f(s):\n    return s.execute(text(BASE + ' WHERE a = :a'), {'a': 1})\n",
        id="constant-plus-constant",
    ),
    pytest.param(
        sql_from_strings,
        "from sqlalchemy import text\nTABLE = 't'\n"
        "def f(s):\n    return s.execute(text(f'SELECT * FROM {TABLE}'))\n",
        id="f-string-of-a-constant",
    ),
    pytest.param(
        sql_from_strings,
        "def f(s):\n    q = 'SELECT * FROM t'\n    q += ' LIMIT 1'\n    return s.execute(q)\n",
        id="local-constant",
    ),
    pytest.param(
        sql_from_strings,
        "from sqlalchemy import text\nCOLUMNS = ('a', 'b')\n"
        "def f(s):\n    return s.execute(text('SELECT ' + ', '.join(COLUMNS)))\n",
        id="join-of-constants",
    ),
    pytest.param(
        markup_calls,
        "from markupsafe import Markup\nOPEN = '<b>'\ndef f():\n    return Markup(OPEN + '</b>')\n",
        id="markup-of-constants",
    ),
    pytest.param(
        markup_calls,
        "from markupsafe import Markup, escape as e\n"
        "def f(x):\n    v = e(x)\n    return Markup(v)\n",
        id="markup-of-an-escaped-variable",
    ),
    pytest.param(
        template_from_values,
        "from flask import render_template_string\nHEAD = '<h1>'\n"
        "def f():\n    return render_template_string(HEAD + '{{ x }}', x=1)\n",
        id="template-of-constants",
    ),
    pytest.param(
        template_from_values,
        "from string import Template\ndef f(x):\n    return Template(x)\n",
        id="string-template-is-not-jinja",
    ),
]


@pytest.mark.parametrize(("finder", "source"), _CONSTANT)
def test_constants_are_not_reported(finder: Finder, source: str) -> None:
    """A string made of constants (module or local) is no injection."""
    assert _found(finder, source) == []


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        pytest.param("{% autoescape flag %}{{ x }}{% endautoescape %}", [1], id="autoescape-var"),
        pytest.param("{% filter safe %}{{ x }}{% endfilter %}", [1], id="filter-block"),
        pytest.param("{{ x | safe }}", [1], id="whitespace"),
        pytest.param("{{ x|sanitize|replace('a', '<')|safe }}", [1], id="filter-after-sanitize"),
        pytest.param("{{ ['<b>', '</b>']|join|safe }}", [], id="literals-only"),
        pytest.param("{% autoescape 'false' %}{{ x }}{% endautoescape %}", [], id="truthy-string"),
    ],
)
def test_template_escaping_turned_off(source: str, lines: list[int]) -> None:
    """``|safe`` on anything but literals, and ``autoescape`` with anything but a true
    constant, are reported."""
    assert list(unescaped(Flask(__name__), source)) == lines


def test_safe_in_a_template_kept_in_the_code_is_found() -> None:
    """``render_template_string(PAGE, ...)`` with ``|safe`` in the constant ``PAGE`` is
    the template W170 reads, at the line of the call."""
    source = (
        "from flask import render_template_string as rts\n"
        "PAGE = '<p>{{ name|safe }}</p>'\n"
        "def f(x):\n"
        "    return rts(PAGE, name=x), rts('<p>{{ name }}</p>', name=x)\n"
    )
    app = Flask(__name__)
    found = [
        (call.lineno, text)
        for call, text in constant_templates(ast.parse(source))
        if any(unescaped(app, text))
    ]
    assert found == [(4, "<p>{{ name|safe }}</p>")]
