"""Flask-Bastion with its defaults: ``Bastion(app)`` and nothing else.

``csp_nonce()`` in the shared page template is the Jinja global Bastion installs.
Sessions use the default SQL store (SQLite in the instance folder). Settings come from
``FLASK_*`` environment variables, as ``docs/index.md`` recommends, so the same app runs
on another store::

    FLASK_BASTION_SESSIONS_STORE=redis FLASK_REDIS_URL=redis://127.0.0.1:6379/0 ...
    FLASK_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test ...
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template, session

from flask_bastion import Bastion
from flask_bastion.sessions import rotate_session

app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
app.config["SECRET_KEY"] = "5e2a9d7c1f4b8e3a6d0c2f9b7e1a5d3c8f6b0e4a2d9c7f1b3e5a8d6c0f2b4e9a"
app.config.from_prefixed_env()
Bastion(app)


@app.get("/")
def index() -> str:
    return render_template("page.html")


@app.get("/api/ping")
def ping() -> dict[str, bool]:
    return {"ok": True}


@app.post("/login")
def login() -> dict[str, bool]:
    """Sign the benchmark's one user in, without a password (benchmark shortcut)."""
    rotate_session()
    session["_user_id"] = "1"
    return {"ok": True}


@app.get("/account")
def account() -> str:
    """A page for a signed-in visitor: reads the user from the session."""
    return render_template("account.html", user=session.get("_user_id"))
