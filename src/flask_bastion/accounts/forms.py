"""Reading the accounts forms (HTML form or JSON body) and answering them (page or
RFC 9457 problem document), so every view serves browsers and API clients alike.

Input is checked for type and size before anything else: a field that is missing, not a
string, or longer than its bound is a field error, never an exception, whatever a client
sends (a JSON number, a list, a megabyte of text).
"""

from __future__ import annotations

import json
import typing as t

from email_validator import EmailNotValidError, validate_email
from flask import Response, current_app, redirect, render_template, request, url_for

from .required import wants_json

#: Bounds of the fields, in characters.
MAX_EMAIL = 254
MAX_NAME = 80
#: Passwords longer than this are refused by the hasher before any work.
MAX_PASSWORD = 1024

REQUIRED = "This field is required."
INVALID_EMAIL = "Enter a valid email address, such as name@example.com."


class Form:
    """The fields of the current request and the errors found in them."""

    def __init__(self) -> None:
        data: t.Any = None
        if request.is_json:
            data = request.get_json(silent=True)
        if not isinstance(data, dict):
            data = request.form
        self.data: t.Mapping[str, t.Any] = data
        self.errors: dict[str, list[str]] = {}
        #: Advice per field, shown beside its errors (password strength guidance).
        self.hints: dict[str, list[str]] = {}

    def text(self, name: str, *, limit: int, strip: bool = True, required: bool = True) -> str:
        """The string field ``name`` (``""`` when absent or invalid, with an error)."""
        value: object = self.data.get(name, "")
        # A NUL or a lone surrogate (valid in JSON, not in UTF-8) would fail in the
        # database or the hasher, a 500 or 503 instead of a field error.
        if not isinstance(value, str) or "\x00" in value or not _utf8(value):
            self.error(name, "Enter text.")
            return ""
        if strip:
            value = value.strip()
        if len(value) > limit:
            self.error(name, f"Use at most {limit} characters.")
            return ""
        if required and not value:
            self.error(name, REQUIRED)
        return value

    def email(self, name: str = "email") -> str:
        """The address in ``name``, normalised by email-validator (syntax only: no DNS
        lookup, which would be slow and reveal nothing useful)."""
        value = self.text(name, limit=MAX_EMAIL)
        if not value:
            return ""
        try:
            return str(validate_email(value, check_deliverability=False).normalized)
        except EmailNotValidError:
            self.error(name, INVALID_EMAIL)
            return ""

    def password(self, name: str) -> str:
        """The password in ``name``, as typed (never stripped)."""
        return self.text(name, limit=MAX_PASSWORD, strip=False)

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    @property
    def ok(self) -> bool:
        return not self.errors


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def answer(
    template: str,
    status: int = 200,
    *,
    data: t.Mapping[str, t.Any] | None = None,
    **context: t.Any,
) -> Response:
    """The page ``template`` with ``context``, or, for a client that asked for JSON,
    ``data`` (default ``{}``) as a JSON document."""
    if wants_json():
        response = Response(json.dumps(dict(data or {})), status, mimetype="application/json")
    else:
        response = Response(render_template(template, **context), status, mimetype="text/html")
    response.vary.add("Accept")
    return response


def problem(
    template: str,
    status: int,
    title: str,
    *,
    errors: t.Mapping[str, list[str]] | None = None,
    hints: t.Mapping[str, list[str]] | None = None,
    headers: t.Mapping[str, str] | None = None,
    **context: t.Any,
) -> Response:
    """A refusal: the page ``template`` (with ``errors`` beside the fields and ``title``
    as the form's message), or an RFC 9457 problem document with the same ``errors``."""
    if wants_json():
        body: dict[str, t.Any] = {"type": "about:blank", "title": title, "status": status}
        if errors:
            body["errors"] = dict(errors)
        if hints:
            body["hints"] = dict(hints)
        response = Response(json.dumps(body), status, mimetype="application/problem+json")
    else:
        html = render_template(
            template, message=title, errors=errors or {}, hints=hints or {}, **context
        )
        response = Response(html, status, mimetype="text/html")
    response.vary.add("Accept")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def done(endpoint: str, data: t.Mapping[str, t.Any], **values: t.Any) -> Response:
    """A 303 to ``endpoint`` for a browser; ``data`` for a JSON client."""
    return done_to(url_for(endpoint, **values), data)


def done_to(target: str, data: t.Mapping[str, t.Any]) -> Response:
    """A 303 to the path ``target`` for a browser; ``data`` for a JSON client."""
    if wants_json():
        return answer("", data=data)
    return t.cast(Response, redirect(target, 303))


def external(endpoint: str, **values: t.Any) -> str:
    """The absolute URL of ``endpoint`` for a mail (never from an untrusted ``Host``)."""
    from ..mail import external_url

    return external_url(endpoint, **values)


def app_object() -> t.Any:
    """The current application itself, the sender of signals."""
    return current_app._get_current_object()  # type: ignore[attr-defined]
