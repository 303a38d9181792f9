"""A sign-in page as the seed documents build it: Flask-Login, passwords hashed with
Werkzeug, and Flask-Limiter's common recipe on the login route.

* Flask-Limiter keyed by the client address, as the seed document sets it up
  (``Limiter(app, key_func=get_remote_address)``, which Flask-Limiter 3 and later spell
  ``Limiter(get_remote_address, app=app)``), counting in memory, with the usual
  ``@limiter.limit("5 per minute")`` on the login view: five attempts per minute per
  address, in Flask-Limiter's default fixed windows. A refused attempt gets a 429 before
  the view runs, so no password is checked.
* Flask-Login signs the user in when ``check_password_hash`` accepts the password
  (Werkzeug's default hash, scrypt); a wrong password or an unknown address gets a 401.

``POST /login`` takes the fields ``email`` and ``password``, like Flask-Bastion's sign-in
view; a success answers ``302`` to ``/``. ``benchmarks/bruteforce.py`` builds one with
:func:`create_app` and the users it needs. The login route is not protected by
``CSRFProtect``: a token stops a forged cross-site form, not a script that fetches the form
before posting it, so it would change nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, redirect, request
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, login_user
from werkzeug.security import check_password_hash

#: The limit of the common recipe, per client address.
LOGIN_LIMIT = "5 per minute"


class User(UserMixin):
    """A user known by its address, which is also its ID."""

    def __init__(self, email: str) -> None:
        self.id = email


def create_app(users: Mapping[str, str]) -> Flask:
    """The application, with ``users`` mapping each address to its Werkzeug password hash."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "4d9b2f7a1c8e3d6b0a5f9c2e7b4d1a8f3c6e0b9d2a7f5c1e8b3d6a0f4c9e2b7d"
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://")
    login_manager = LoginManager(app)

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return User(user_id) if user_id in users else None

    @app.get("/")
    def index() -> str:
        return "ok"

    @app.post("/login")
    @limiter.limit(LOGIN_LIMIT)
    def login() -> ResponseReturnValue:
        email = request.form.get("email", "").strip().lower()
        password = request.form.get("password", "")
        stored = users.get(email)
        if stored is not None and check_password_hash(stored, password):
            login_user(User(email))
            return redirect("/")
        return "Invalid email or password.", 401

    return app
