"""Log scrubbing: secrets stay out of the logs, and every line names its request.

Defends against secrets leaking into logs, which are kept longer, copied further and read
by more people than the data they describe: a logged ``request.environ`` holds the
session cookie and the ``Authorization`` header, a logged form holds the password, and a
traceback holds the database URL with its password.

* :func:`scrub` redacts passwords, tokens, cookies, credentials and URL passwords from a
  text; :func:`mask_urls` masks only the passwords and secret parameters of URLs.
* :class:`LogFilter` scrubs each record's message, traceback, stack and ``extra=``
  fields and adds ``record.request_id``. It is installed on each application's logger, on the
  ``flask_bastion.security`` logger and on :data:`default_handler`, which takes the place
  of Flask's default handler on the logger of each application Flask-Bastion is
  initialised on, so that other applications in the process are left as they are.
"""

from __future__ import annotations

import functools
import logging
import re
import typing as t

from flask import Flask
from flask.logging import default_handler as flask_default_handler
from flask.logging import wsgi_errors_stream

from .context import current_state

#: Logger for security events (rejections); later fed to the audit sinks.
security_log = logging.getLogger("flask_bastion.security")

_FLASK_LOG_FORMAT = "[%(asctime)s] %(levelname)s in %(module)s: %(message)s"
#: The format of :data:`default_handler`: Flask's own, plus the request ID.
LOG_FORMAT = "[%(asctime)s] %(levelname)s in %(module)s [%(request_id)s]: %(message)s"

_REDACTED = "[redacted]"
#: What replaces a password or a secret parameter inside a URL. ``***`` (as SQLAlchemy
#: prints a URL) keeps the masked URL a valid URL; ``[redacted]`` in the host part would
#: read as an IPv6 literal.
URL_MASK = "***"

# The scrubbing patterns are ASCII and case-insensitive, so a plain lower-case substring
# test tells whether a pattern can match at all (see scrub()).
_FLAGS = re.ASCII | re.IGNORECASE
#: What names a secret, inside a longer name too (``client_secret``, ``private_key``,
#: ``aws_secret_access_key``, ``credentials``).
_SENSITIVE_WORDS = (
    r"password|passwd|passphrase|pwd|secret|token|credential|(?:api|private|access)[_-]?key"
    r"|signature|session(?:[_-]?id)?"
)
#: Keys whose values are secrets: ``password=``, ``"api_key":``, ``('token', ...)``.
#: Atomic, and starting only where a run of name characters starts, so a long run such
#: as a base64url blob costs one pass, not one pass per hyphen.
_SENSITIVE_KEY = rf"(?<![\w-])(?>[\w-]*?(?:{_SENSITIVE_WORDS})[\w-]*+)"
_SENSITIVE_KEY_WORDS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "credential",
    "key",
    "signature",
    "session",
)
#: Request headers whose whole value is secret, in header (``Proxy-Authorization``) and
#: WSGI environ (``HTTP_PROXY_AUTHORIZATION``) spelling, also after an escaped line
#: break (``\r\nCookie:`` in a repr'd raw request).
_SENSITIVE_HEADER = (
    r"(?:(?<![a-z0-9])|(?<=\\[rn]))(?:http_)?(?:(?:proxy[-_])?authorization"
    r"|(?:set[-_])?cookie|x[-_]api[-_]key|x[-_][cx]srf[-_]token)"
)
_SENSITIVE_HEADER_WORDS = ("authorization", "cookie", "api", "srf")
# A quoted value: "..." or '...' with backslash escapes (JSON, Python reprs, source
# lines), also as repr'd JSON, whose escaped quotes are doubled ("hun\\"ter2"), and
# \"...\" (JSON inside a JSON string, whose own escapes are \\\" and \\\\). It ends at a
# quote followed by what can follow a value, which settles whether \\" closes it. No
# alternative crosses an unescaped quote, so each is one pass to the next quote.
_END = r"(?=[\s,;&)}\]'\"\\]|$)"
_QUOTED = (
    rf'"(?:[^"\\\r\n]|\\\\"|\\.)*?"{_END}'
    rf"|'(?:[^'\\\r\n]|\\\\'|\\.)*?'{_END}"
    rf'|\\"(?:[^"\\\r\n]|\\\\\\\\|\\\\\\"|\\\\[^"\\\r\n])*?\\"{_END}'
)
#: The key part of a pair: the key, quoted or not, and ``=``, ``:`` or (after a quoted
#: key, as in ``('password', 'x')``) ``,``. A value already masked is left alone.
_PAIR = (
    r"(?P<head>(?P<quote>\\?['\"]|){key}(?P=quote)(?:\s*[:=]\s*|(?<=['\"])\s*,\s*))"
    r"(?!(?:\\?['\"])?(?:\[redacted\]|\*\*\*))"
)
_SENSITIVE_PAIR = re.compile(
    _PAIR.format(key=_SENSITIVE_KEY) + rf"(?P<value>{_QUOTED}|[^\s&,;}}\]]+)", _FLAGS
)
# The value of a secret header runs to the end of the line (or of an escaped line, in a
# repr'd raw request): Digest parameters and cookie lists hold quotes, commas and
# semicolons.
_HEADER_PAIR = re.compile(
    _PAIR.format(key=_SENSITIVE_HEADER) + rf"(?P<value>{_QUOTED}|(?:[^\r\n\\]|\\(?![rn]))+)",
    _FLAGS,
)
#: token68 credentials after their scheme. A credential has a capital, a digit or a
#: symbol, so "Basic usage" and "NTLM authentication" are left as prose.
_CREDENTIAL = re.compile(
    r"\b(bearer|basic|negotiate|ntlm)\s+"
    r"(?-i:(?=[a-z._~+/=-]*[A-Z0-9._~+/=-])[A-Za-z0-9._~+/=-]{4,})",
    _FLAGS,
)
_CREDENTIAL_WORDS = ("bearer", "basic", "negotiate", "ntlm")
#: A Digest credential is a list of parameters (nonce, cnonce, response, ...).
_DIGEST_PARAM = r'[\w-]+\s*=\s*(?:"(?:[^"\\\r\n]|\\.)*"|[^\s,]+)'
_DIGEST = re.compile(rf"\b(digest)\s+{_DIGEST_PARAM}(?:\s*,\s*{_DIGEST_PARAM})*", _FLAGS)
#: The armour label of a PEM private key: PKCS#1 (``RSA PRIVATE KEY``), PKCS#8
#: (``PRIVATE KEY``, ``ENCRYPTED PRIVATE KEY``), ``EC``, ``OPENSSH`` and PGP
#: (``PGP PRIVATE KEY BLOCK``).
_PEM_LABEL = r"(?:[A-Z0-9]++ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
#: A PEM private key loses its body and keeps its armour lines. The body runs over
#: base64, armour headers (``Proc-Type: 4,ENCRYPTED``) and line breaks, raw or escaped
#: (``\n`` in a JSON string, as in a cloud service-account file), to the END line or,
#: when the key was cut short, to the first character a PEM body cannot hold (such as
#: the quote that ends the JSON string). Possessive, so a body is read once.
_PRIVATE_KEY = re.compile(
    rf"(-----BEGIN {_PEM_LABEL})(?:[a-z0-9+/=:,.()\s]|\\++[rnt]|-(?!----))*+"
    rf"((?:-----END {_PEM_LABEL})?)",
    _FLAGS,
)
_URL = re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*+://[^\s'\"<>]+", _FLAGS)
#: The password of a URL's userinfo, as any common parser reads it: SQLAlchemy takes the
#: user name up to the first ``:`` (``@`` included, as in ``app@server``) and the
#: password up to the next ``@``, ``/``, ``?`` and ``#`` included; :mod:`urllib.parse`
#: (redis-py) takes the userinfo up to the last ``@`` before the path. The mask covers
#: both readings, to the last ``@`` that no ``/``, ``?`` or ``#`` separates from the
#: first one, so a raw ``@``, ``/``, ``?`` or ``#`` in a password never leaves part of
#: it. A port followed by an ``@`` in the path (``http://h:8080/@x``) reads as a
#: password too, and is masked: a masked port costs less than a leaked password.
#: Possessive: one pass from the scheme, whatever follows.
_URL_PASSWORD = re.compile(r"^([^:]++://[^:/]*+):[^@]*+@(?:[^@/?#]*+@)*+")
_URL_SENSITIVE_PARAM = re.compile(rf"([?&;]{_SENSITIVE_KEY}=)[^&#;]*", _FLAGS)


def _mask_url(match: re.Match[str]) -> str:
    url = _URL_PASSWORD.sub(rf"\1:{URL_MASK}@", match[0])
    return _URL_SENSITIVE_PARAM.sub(rf"\1{URL_MASK}", url)


def mask_urls(text: str) -> str:
    """``text`` with the password of every URL and its secret parameters masked.

    ``postgresql://app:s3cret@db/prod`` becomes ``postgresql://app:***@db/prod`` and
    ``https://x.example/r?token=abc`` becomes ``https://x.example/r?token=***``; text
    without a URL is returned unchanged, so any setting's value can be passed.
    """
    return _URL.sub(_mask_url, text) if "://" in text else text


def _redact_value(match: re.Match[str]) -> str:
    # A quoted value keeps its quotes, so scrubbed JSON is still JSON.
    value = match["value"]
    for quote in ('\\"', '"', "'"):
        if len(value) >= 2 * len(quote) and value[: len(quote)] == value[-len(quote) :] == quote:
            return f"{match['head']}{quote}{_REDACTED}{quote}"
    return f"{match['head']}{_REDACTED}"


#: (words, rule): a rule runs only on text holding one of its words, in lower case. Most
#: log lines hold none, so scrubbing them costs a few substring searches.
_RULES: tuple[tuple[tuple[str, ...], t.Callable[[str], str]], ...] = (
    (("private key",), functools.partial(_PRIVATE_KEY.sub, rf"\1{_REDACTED}\2")),
    (("://",), mask_urls),
    (_SENSITIVE_HEADER_WORDS, functools.partial(_HEADER_PAIR.sub, _redact_value)),
    (_CREDENTIAL_WORDS, functools.partial(_CREDENTIAL.sub, rf"\1 {_REDACTED}")),
    (("digest",), functools.partial(_DIGEST.sub, rf"\1 {_REDACTED}")),
    (_SENSITIVE_KEY_WORDS, functools.partial(_SENSITIVE_PAIR.sub, _redact_value)),
)


def scrub(text: str) -> str:
    """``text`` with secrets redacted: URL passwords and secret URL parameters; the values
    of ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``,
    ``X-API-Key`` and ``X-CSRF-Token``, also in WSGI environ spelling (``HTTP_COOKIE``);
    ``Bearer``, ``Basic``, ``Negotiate``, ``NTLM`` and ``Digest`` credentials; the bodies
    of PEM private keys; and the values of keys naming a password, secret, token,
    credential, API, private or access key, signature or session."""
    lowered = text.lower()
    for words, rule in _RULES:
        if any(word in lowered for word in words):
            text = rule(text)
    return text


#: Names of values that are secrets whole: the keys :func:`scrub` redacts, and the
#: headers whose whole value is a credential (``{"headers": {"Cookie": ...}}``).
_SENSITIVE_NAME = re.compile(rf"{_SENSITIVE_WORDS}|authorization|cookie", _FLAGS)
_PLAIN_RECORD = vars(logging.LogRecord("", 0, "", 0, "", (), None))
#: The attributes every record has, those formatters add and the request ID: any other
#: attribute came from ``extra=``, which structured (JSON) handlers write field by field.
_RECORD_ATTRIBUTES = frozenset(_PLAIN_RECORD) | {
    "message",
    "asctime",
    "request_id",
    "_bastion_scrubbed",
}
#: How many attributes a record without ``extra=`` fields has once it carries its
#: request ID: a record no larger is not searched for extras at all.
_PLAIN_RECORD_SIZE = len(_PLAIN_RECORD) + 1
#: How deep into nested dicts, lists and tuples the ``extra=`` fields are scrubbed
#: value by value, and how many of their items, in all, per record. Past either bound a
#: value is scrubbed as the text a formatter would write for it (its repr), so a large
#: or deeply nested value costs a regular-expression pass, not one Python call per item.
_MAX_DEPTH = 8
_MAX_ITEMS = 1_000


class _Budget:
    """The items of one record's ``extra=`` fields still to scrub one by one."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items = _MAX_ITEMS


def _scrub_text_of(value: object) -> object:
    """``value``, or its repr (and str, where the type has its own) scrubbed when that
    text holds a secret: the text a formatter writes for an object (``default=repr`` or
    ``str`` in a JSON handler, ``%(name)s`` in a format) is what must be clean."""
    spellings = (repr,) if type(value).__str__ is object.__str__ else (repr, str)
    for spelling in spellings:
        text = spelling(value)
        scrubbed = scrub(text)
        if scrubbed != text:
            return scrubbed
    return value


def _scrub_value(value: object, depth: int, budget: _Budget) -> object:
    """``value`` itself when it holds no secret, else a scrubbed copy: the caller's
    objects are never changed."""
    if isinstance(value, str):
        scrubbed = scrub(value)
        return value if scrubbed == value else scrubbed
    if value is None or isinstance(value, int | float):
        return value
    # Exactly these types: a subclass (a MultiDict, a named tuple) may hold more than
    # it iterates over, and is checked as the text it is written as.
    if (
        not isinstance(value, dict | list | tuple)
        or type(value) not in (dict, list, tuple)
        or not depth
        or len(value) > budget.items
    ):
        return _scrub_text_of(value)
    budget.items -= len(value)
    if isinstance(value, dict):
        copy = {key: _scrub_field(key, item, depth - 1, budget) for key, item in value.items()}
        changed = any(copy[key] is not item for key, item in value.items())
        return copy if changed else value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        # A (name, value) pair, as in a list of headers or of form fields.
        name, item = value
        items = [_scrub_value(name, depth, budget), _scrub_field(name, item, depth - 1, budget)]
    else:
        items = [_scrub_value(item, depth - 1, budget) for item in value]
    if all(new is old for new, old in zip(items, value, strict=True)):
        return value
    return items if isinstance(value, list) else tuple(items)


def _scrub_field(name: object, value: object, depth: int, budget: _Budget) -> object:
    """The value of the field ``name``: redacted whole when the name is a secret's,
    unless it is ``None`` or a boolean, which cannot be one."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(name, str) and _SENSITIVE_NAME.search(name):
        return _REDACTED
    return _scrub_value(value, depth, budget)


def _scrub_extras(record: logging.LogRecord) -> None:
    """Replace each ``extra=`` field of ``record`` holding a secret with a scrubbed copy."""
    budget = _Budget()
    fields = vars(record)
    for name in fields.keys() - _RECORD_ATTRIBUTES:
        value = fields[name]
        try:
            scrubbed = _scrub_field(name, value, _MAX_DEPTH, budget)
        except Exception:  # a repr or str that fails, or recurses without end
            scrubbed = _REDACTED  # what cannot be checked is not written
        if scrubbed is not value:
            fields[name] = scrubbed


class LogFilter(logging.Filter):
    """Adds ``record.request_id`` and redacts secrets from the message, the traceback,
    the stack and the ``extra=`` fields.

    The traceback is formatted into ``record.exc_text`` and scrubbed, and
    ``record.exc_info`` is cleared, so that no formatter formats it again from the
    exception, secrets and all; standard formatters write ``exc_text``. Installed on
    each application's logger, on the ``flask_bastion.security`` logger and on
    :data:`default_handler`; add it to any other handler (JSON, syslog) with
    ``handler.addFilter(LogFilter())``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        state = current_state()
        if not hasattr(record, "request_id"):
            record.request_id = state.request_id if state is not None else "-"
        if not getattr(record, "_bastion_scrubbed", False):
            record.msg = scrub(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = scrub(record.exc_text)
            record.exc_info = None
            if record.stack_info:
                record.stack_info = scrub(record.stack_info)
            if len(vars(record)) > _PLAIN_RECORD_SIZE:
                _scrub_extras(record)
            record._bastion_scrubbed = True
        return True


# The security logger is Flask-Bastion's own: its records are scrubbed and tagged
# wherever they are sent.
security_log.addFilter(LogFilter())
logging.getLogger("flask_bastion").addFilter(LogFilter())  # the pipeline's own errors

#: Writes to :data:`flask.logging.wsgi_errors_stream`, as Flask's default handler does,
#: with :data:`LOG_FORMAT` and a :class:`LogFilter`. It takes the place of Flask's default
#: handler on the logger of each application Flask-Bastion is initialised on; remove it
#: as Flask's: ``app.logger.removeHandler(flask_bastion.logs.default_handler)``.
default_handler = logging.StreamHandler(wsgi_errors_stream)  # type: ignore[call-overload]
default_handler.setFormatter(logging.Formatter(LOG_FORMAT))
default_handler.addFilter(LogFilter())


def install(app: Flask) -> None:
    """Scrub and tag the records of ``app.logger``, and give it :data:`default_handler`
    in place of Flask's default handler.

    Flask's default handler is one object shared by every application in the process, so
    it is never changed: an application without Flask-Bastion keeps Flask's format and
    unscrubbed lines. The filter on ``app.logger`` reaches every handler of the records
    logged on it; :data:`default_handler` also scrubs and tags the records that child
    loggers (``logging.getLogger(app.name + ".views")``) propagate to it. Flask adds its
    handler only when logging is not configured, and Flask-Bastion replaces it only
    while it keeps Flask's format: a configured handler is the operator's, and so is
    adding :class:`LogFilter` to it.
    """
    logger = app.logger
    if not any(isinstance(f, LogFilter) for f in logger.filters):
        logger.addFilter(LogFilter())
    formatter = flask_default_handler.formatter
    if (
        flask_default_handler in logger.handlers
        and formatter is not None
        and formatter._fmt == _FLASK_LOG_FORMAT
    ):
        logger.removeHandler(flask_default_handler)
        logger.addHandler(default_handler)
