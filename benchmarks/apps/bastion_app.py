"""Flask-Bastion with its defaults: ``Bastion(app)`` and nothing else.

``csp_nonce()`` in the shared page template is the Jinja global Bastion installs.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template

from flask_bastion import Bastion

app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
app.config["SECRET_KEY"] = "5e2a9d7c1f4b8e3a6d0c2f9b7e1a5d3c8f6b0e4a2d9c7f1b3e5a8d6c0f2b4e9a"
Bastion(app)


@app.get("/")
def index() -> str:
    return render_template("page.html")


@app.get("/api/ping")
def ping() -> dict[str, bool]:
    return {"ok": True}
