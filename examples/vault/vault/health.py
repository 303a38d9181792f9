"""``GET /healthz``: liveness and database reachability for load balancers and monitors.

An unreachable database is reported as a clean 503 with a JSON body, never a 500 with a
traceback: a monitor needs the status, and nobody needs the driver's error text. The
details go to the log as a warning.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from flask_bastion import exempt, no_store

from .db import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@exempt  # probed every few seconds by load balancers, from a handful of addresses
@no_store  # a cached "ok" would hide an outage from the monitor asking
def healthz() -> tuple[Response, int]:
    """Report whether the application and its database answer."""
    try:
        get_db().execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        current_app.logger.warning("Health check: database unreachable: %s", exc.__cause__ or exc)
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200
