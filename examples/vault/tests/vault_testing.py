"""Helpers shared by Vault's tests (imported by name: this folder is on ``sys.path``)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient


def browser(app: Flask) -> FlaskClient:
    """A test client that sends what a browser sends on same-origin requests."""
    client = app.test_client()
    client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
    return client
