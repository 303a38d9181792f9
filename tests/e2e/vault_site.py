"""Vault as the browser tests run it, and pages that watch for CSP violations."""

from __future__ import annotations

import secrets
import typing as t
from pathlib import Path

from vault import create_app
from vault.db import init_db

if t.TYPE_CHECKING:
    from flask import Flask
    from playwright.sync_api import BrowserContext, Page

#: Records CSP violations on every page the context opens.
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def make_vault(folder: Path, **settings: t.Any) -> Flask:
    """Vault with a fresh SQLite database in ``folder``, for ``http://localhost:PORT``
    (development profile: plain HTTP on loopback; mail in ``folder / "outbox"``), with
    ``settings`` on top."""
    app = create_app(
        {
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{folder / 'vault.sqlite3'}",
            "BASTION_PROFILE": "development",
            "TRUSTED_HOSTS": ["localhost"],
            "BASTION_MAIL_OUTBOX": str(folder / "outbox"),
            **settings,
        }
    )
    with app.app_context():
        init_db()
    return app


def watched_page(context: BrowserContext) -> Page:
    """A new page of ``context`` that records CSP violations and console errors."""
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.console_errors = errors  # type: ignore[attr-defined]
    return page


def no_violations(page: Page) -> None:
    """The page reported no CSP violation, as an event or on the console."""
    assert page.evaluate("window.__violations") == []
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []  # type: ignore[attr-defined]
