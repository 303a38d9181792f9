"""Bare Flask: the baseline every other stack is measured against.

The page template is shared with the other apps; ``csp_nonce()`` returns an empty string
here because nothing sends a Content-Security-Policy. Sessions are Flask's own signed
cookies, so a returning visitor costs a signature check and no store at all.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template, session

app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
app.config["SECRET_KEY"] = "9c4f1e7a2b8d3f6a0e5c9b1d7f3a8e2c6b0d4f9a1e7c3b5d8f2a6e0c4b9d1f7a"
app.jinja_env.globals["csp_nonce"] = lambda: ""


@app.get("/")
def index() -> str:
    return render_template("page.html")


@app.get("/api/ping")
def ping() -> dict[str, bool]:
    return {"ok": True}


@app.post("/login")
def login() -> dict[str, bool]:
    """Sign the benchmark's one user in, without a password (benchmark shortcut)."""
    session["_user_id"] = "1"
    return {"ok": True}


@app.get("/account")
def account() -> str:
    """A page for a signed-in visitor: reads the user from the session."""
    return render_template("account.html", user=session.get("_user_id"))
