"""``/preferences``: the visitor's display preferences, kept in the session.

The first state-changing form of Vault, and the one the CSRF tests aim at: the form
carries ``csrf_field()`` for browsers that send neither ``Sec-Fetch-Site`` nor
``Origin``, and Flask-Bastion rejects a post from another site before this view runs.
The submitted value is checked against an allowlist, so the session only ever holds a
known theme, which the layout turns into a class on ``<body>`` (no inline style, which
the CSP would refuse).
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

bp = Blueprint("preferences", __name__)

#: The themes a visitor can pick; the first is the default.
THEMES = ("light", "dark")
#: Key of the theme in the session.
SESSION_KEY = "theme"


def current_theme() -> str:
    """The visitor's theme, or the default when none (or an unknown one) is stored."""
    theme = session.get(SESSION_KEY)
    return theme if theme in THEMES else THEMES[0]


@bp.app_context_processor
def inject_theme() -> dict[str, str]:
    """Give every template ``theme``, for the class on ``<body>``."""
    return {"theme": current_theme()}


@bp.get("/preferences")
def show() -> str:
    """The preferences form; ``?saved=1`` adds the confirmation after a change."""
    return render_template(
        "preferences.html", themes=THEMES, saved=request.args.get("saved") == "1"
    )


@bp.post("/preferences")
def save() -> Response:
    """Store the chosen theme and redirect back (303, so a reload does not re-post).

    :raises werkzeug.exceptions.BadRequest: when the theme is not one of :data:`THEMES`.
    """
    theme = request.form.get("theme")
    if theme not in THEMES:
        abort(400, description=f"Choose a theme: {', '.join(THEMES)}.")
    session[SESSION_KEY] = theme
    return redirect(url_for("preferences.show", saved=1), 303)
