import sqlalchemy as sa
from flask import render_template_string, request
from markupsafe import Markup, escape

from flask_bastion.sanitize import sanitize_html

PAGE = "<p>{{ name }}</p>"


def safe(connection: sa.Connection) -> object:
    name = request.args["name"]
    rows = connection.execute(sa.text("SELECT * FROM users WHERE name = :name"), {"name": name})
    cursor_rows = connection.exec_driver_sql("SELECT * FROM users WHERE name = %s", (name,))
    page = render_template_string(PAGE, name=name)
    literal = render_template_string("<p>{{ name }}</p>", name=name)
    bold = Markup("<b>{}</b>").format(name)
    return rows, cursor_rows, page, literal, bold, Markup(escape(name)), Markup(sanitize_html(name))
