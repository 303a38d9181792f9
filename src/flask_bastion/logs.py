"""Log scrubbing: secrets stay out of the logs, and every line names its request.

Defends against secrets leaking into logs, which are kept longer, copied further and read
by more people than the data they describe: a logged ``request.environ`` holds the
session cookie and the ``Authorization`` header, a logged form holds the password, and a
traceback holds the database URL with its password.

* :func:`scrub` redacts passwords, tokens, cookies, credentials and URL passwords from a
  text; :func:`mask_urls` masks only the passwords and secret parameters of URLs.
* :class:`LogFilter` scrubs each record's message and traceback and adds
  ``record.request_id``. It is installed on each application's logger, on the
  ``flask_bastion.security`` logger and on :data:`default_handler`, which takes the place
  of Flask's default handler on the logger of each application Flask-Bastion is
  initialised on, so that other applications in the process are left as they are.
"""

from __future__ import annotations

import functools
import logging
import re
import typing as t

from flask import Flask, g, has_app_context
from flask.logging import default_handler as flask_default_handler
from flask.logging import wsgi_errors_stream

from .context import RequestState

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
#: Keys whose values are secrets: ``password=``, ``"api_key":``, ``('token', ...)``.
#: Atomic, and starting only where a run of name characters starts, so a long run such
#: as a base64url blob costs one pass, not one pass per hyphen.
_SENSITIVE_KEY = (
    r"(?<![\w-])(?>[\w-]*?(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key"
    r"|private[_-]?key|access[_-]?key|credentials?|signature|session(?:[_-]?id)?)[\w-]*+)"
)
_SENSITIVE_KEY_WORDS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
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
_URL = re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*+://[^\s'\"<>]+", _FLAGS)
# userinfo ends at the last "@" before the path: a raw "@" in a password is common.
# As SQLAlchemy parses it, a password runs to the next "@" and may hold "/", "#" or "?"
# (a URL whose port is followed by a path holding "@" is masked a little too much).
_URL_PASSWORD = re.compile(r"^([^:]+://[^:/?#@]*):.*@")
#: A PEM private key block, base64 lines with real or escaped line breaks, up to its END
#: line (or the end of the text, when it was cut).
_PEM_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[A-Za-z0-9+/=\s\\]*+"
    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----)?",
    _FLAGS,
)
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
    (("://",), mask_urls),
    (("private key",), functools.partial(_PEM_KEY.sub, _REDACTED)),
    (_SENSITIVE_HEADER_WORDS, functools.partial(_HEADER_PAIR.sub, _redact_value)),
    (_CREDENTIAL_WORDS, functools.partial(_CREDENTIAL.sub, rf"\1 {_REDACTED}")),
    (("digest",), functools.partial(_DIGEST.sub, rf"\1 {_REDACTED}")),
    (_SENSITIVE_KEY_WORDS, functools.partial(_SENSITIVE_PAIR.sub, _redact_value)),
)


def scrub(text: str) -> str:
    """``text`` with secrets redacted: URL passwords and secret URL parameters; the values
    of ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``,
    ``X-API-Key`` and ``X-CSRF-Token``, also in WSGI environ spelling (``HTTP_COOKIE``);
    ``Bearer``, ``Basic``, ``Negotiate``, ``NTLM`` and ``Digest`` credentials; PEM
    private key blocks; and the values of keys naming a password, secret, token, API,
    private or access key, credential, signature or session."""
    lowered = text.lower()
    for words, rule in _RULES:
        if any(word in lowered for word in words):
            text = rule(text)
    return text


#: The attributes every LogRecord has, and the ones Flask-Bastion adds itself: anything
#: else came in ``extra=`` and is scrubbed, since structured handlers write it out.
_RECORD_FIELDS = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime"}
    | {"request_id", "event", "reason", "status", "_bastion_scrubbed"}
)
_SECRET_NAME = re.compile(rf"{_SENSITIVE_KEY}|{_SENSITIVE_HEADER}", _FLAGS)
#: How deep, and how many items, an ``extra`` value is scrubbed; anything beyond is
#: replaced whole, so a huge or cyclic structure costs bounded work.
_EXTRA_DEPTH = 6
_EXTRA_ITEMS = 1000


def scrub_value(value: object, depth: int = 0) -> object:
    """``value`` (an ``extra`` field) with secrets redacted: strings are scrubbed, items
    under a secret-looking key are replaced, mappings and sequences are copied with their
    items scrubbed (the caller's objects are never changed)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict | list | tuple | set | frozenset):
        if depth >= _EXTRA_DEPTH or len(value) > _EXTRA_ITEMS:
            return _REDACTED
        if isinstance(value, dict):
            return {
                key: _REDACTED
                if isinstance(key, str) and _SECRET_NAME.fullmatch(key)
                else scrub_value(item, depth + 1)
                for key, item in value.items()
            }
        return [scrub_value(item, depth + 1) for item in value]
    return value


class LogFilter(logging.Filter):
    """Adds ``record.request_id`` and redacts secrets from the message, the traceback,
    the stack and every ``extra=`` field (which structured handlers write out one by
    one). The traceback is kept as scrubbed text (``record.exc_text``, which every
    formatter prints) and ``record.exc_info`` is dropped, so that no formatter can format
    it again from the live exception.

    Installed on each application's logger, on the ``flask_bastion.security`` logger and
    on :data:`default_handler`; add it to any other handler (JSON, syslog) with
    ``handler.addFilter(LogFilter())``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        state: RequestState | None = g.get("_bastion") if has_app_context() else None
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
            for name, value in list(vars(record).items()):
                if name in _RECORD_FIELDS:
                    continue
                secret = _SECRET_NAME.fullmatch(name) is not None
                setattr(record, name, _REDACTED if secret else scrub_value(value))
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
