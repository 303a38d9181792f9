"""The stack the seed documents describe, each extension with its defaults.

* Flask-Talisman: security headers, HTTPS redirect (``force_https``) and a CSP. The only
  change from its defaults is a nonce for scripts: Talisman's default policy plus a
  ``script-src`` directive (Talisman adds nonces only to directives the policy names),
  without which ``default-src 'self'`` would block the page's inline script. Talisman
  provides the ``csp_nonce()`` Jinja global itself.
* Flask-WTF ``CSRFProtect``: the page carries ``csrf_token()``, which stores the token in
  the session.
* Flask-Limiter: a default limit on every route, counted in memory, set high enough never
  to trigger so only the bookkeeping is measured.
* Flask-Login: a ``LoginManager`` with ``session_protection = "strong"``; the page asks
  for ``current_user``.
* Flask-Session: server-side sessions in files, through the cachelib backend (Flask-Session
  0.8 deprecates ``SESSION_TYPE = "filesystem"`` in favour of a ``FileSystemCache``) with
  cachelib's default threshold of 500 files. The directory is ``$SEED_SESSION_DIR`` when
  set (``throughput.py`` gives all gunicorn workers of one run the same one, as in a real
  deployment), otherwise a fresh directory under ``benchmarks/.work/`` removed at exit.

Every page view by a visitor without a session cookie writes a session file (the CSRF
token lives in the session). Once the directory holds more than 500 files, every write
first reads all of them to find expired and oldest entries, so the cost per request grows
with the threshold; that is the steady state of any site with more than 500 visitors a
month, and what the benchmarks measure after their first 500 requests.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

from cachelib.file import FileSystemCache
from flask import Flask, render_template
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, login_user
from flask_session import Session
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect

HERE = Path(__file__).parent
SESSION_DIR = os.environ.get("SEED_SESSION_DIR", "")
if not SESSION_DIR:
    work = HERE.parent / ".work"
    work.mkdir(exist_ok=True)
    SESSION_DIR = tempfile.mkdtemp(prefix="seed-sessions-", dir=work)
    atexit.register(functools.partial(shutil.rmtree, SESSION_DIR, ignore_errors=True))

app = Flask(__name__, template_folder=str(HERE / "templates"))
app.config["SECRET_KEY"] = "b7e3a1d9f5c2e8a4d0b6f3c9e1a7d5b2f8c4e0a6d3b9f1c7e5a2d8b4f0c6e3a9"
app.config["SESSION_TYPE"] = "cachelib"
app.config["SESSION_CACHELIB"] = FileSystemCache(SESSION_DIR)

Talisman(
    app,
    content_security_policy={
        "default-src": "'self'",
        "object-src": "'none'",
        "script-src": "'self'",
    },
    content_security_policy_nonce_in=["script-src"],
)
csrf = CSRFProtect(app)
Limiter(
    get_remote_address,
    app=app,
    default_limits=["1000000 per minute"],
    storage_uri="memory://",
)
login_manager = LoginManager(app)
login_manager.session_protection = "strong"
Session(app)


class User(UserMixin):
    """A user known only by its ID, signed in by ``POST /login``."""

    def __init__(self, user_id: str) -> None:
        self.id = user_id


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return User(user_id) if user_id == "1" else None


@app.get("/")
def index() -> str:
    return render_template("seed.html")


@app.get("/api/ping")
def ping() -> dict[str, bool]:
    return {"ok": True}


@app.post("/login")
@csrf.exempt
def login() -> dict[str, bool]:
    """Sign the benchmark's one user in, without a password (benchmark shortcut; exempt
    from CSRFProtect because the benchmark posts without fetching a form first)."""
    login_user(User("1"))
    return {"ok": True}


@app.get("/account")
def account() -> str:
    """A page for a signed-in visitor: the template asks Flask-Login for ``current_user``."""
    return render_template("seed.html")
