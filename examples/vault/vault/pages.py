"""The public pages of Vault. Output goes through Jinja autoescaping only."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    """The home page: what Vault is."""
    return render_template("index.html")
