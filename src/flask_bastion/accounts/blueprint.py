"""The ``bastion_accounts`` blueprint: every accounts view, registered in one place (the
view modules import nothing from here, so the blueprint sits above them all)."""

from __future__ import annotations

import typing as t

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from ..config import AccountsConfig
from ..context import get_state
from ..exceptions import AccountsUnavailable
from ..refusal import report
from .core import accounts_state
from .mfa_pages import register as register_mfa_pages
from .pages import register as register_account_pages
from .passkey_pages import register as register_passkey_pages
from .second_factor import login_verify
from .signin import confirm, login, logout, unlock
from .views import forgot, register, reset, verify


def make_blueprint(settings: AccountsConfig) -> Blueprint:
    """The ``bastion_accounts`` blueprint with the views ``settings.features`` asks for."""
    bp = Blueprint("bastion_accounts", __name__)
    bp.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    bp.add_url_rule("/login/verify", "login_verify", login_verify, methods=["GET", "POST"])
    bp.add_url_rule("/logout", "logout", logout, methods=["POST"])
    bp.add_url_rule("/account/confirm", "confirm", confirm, methods=["GET", "POST"])
    bp.add_url_rule("/unlock/<token>", "unlock", unlock, methods=["GET", "POST"])
    if "register" in settings.features:
        bp.add_url_rule("/register", "register", register, methods=["GET", "POST"])
        bp.add_url_rule("/verify/<token>", "verify", verify, methods=["GET", "POST"])
    if "reset" in settings.features:
        bp.add_url_rule("/forgot", "forgot", forgot, methods=["GET", "POST"])
        bp.add_url_rule("/reset/<token>", "reset", reset, methods=["GET", "POST"])
    register_account_pages(bp, settings)
    register_mfa_pages(bp)
    register_passkey_pages(bp)
    bp.register_error_handler(SQLAlchemyError, _database_failed)
    bp.context_processor(_template_context)
    return bp


def _template_context() -> dict[str, t.Any]:
    passwords = get_state(current_app).config.passwords
    return {
        # Which views exist, so the templates link only to those.
        "url_rules": current_app.view_functions,
        "password_min_length": passwords.min_length,
    }


def _database_failed(error: SQLAlchemyError) -> ResponseReturnValue:
    accounts_state().rollback()
    rejection = AccountsUnavailable()
    report(rejection)
    # Answered, not raised: Flask turns an exception raised by an error handler into a
    # 500, so the 503 goes through the application's error pages from here.
    return current_app.handle_http_exception(rejection)
