"""The NIST SP 800-63B-4 policy for new passwords: length after NFKC, the shipped blocklist,
repetition, context words, strength feedback, the breached-password range API (against a
real server on loopback), settings and the application's policy."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import threading
import typing as t
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import zxcvbn
from flask import Flask

from flask_bastion.exceptions import BastionError, ConfigurationError
from flask_bastion.passwords import (
    BREACHED,
    BREACHED_UNAVAILABLE,
    COMMON,
    CONTEXT,
    REPETITIVE,
    TOO_LONG,
    TOO_SHORT,
    BreachedCheckFailed,
    BreachedPasswords,
    PasswordPolicy,
    PasswordRefused,
    PasswordRejected,
    Problem,
    blocklist,
    password_policy,
)
from flask_bastion.passwords.policy import context_words

from .conftest import make_app
from .servers import free_port

#: A password no rule refuses, 24 characters.
GOOD = "purple tugboat umbrellas"
#: A common password of 15 characters (line 1,105 of the shipped list).
COMMON_15 = "qwerty123456789"


@pytest.fixture
def policy() -> PasswordPolicy:
    return PasswordPolicy()


def wide(text: str) -> str:
    """``text`` in full-width forms (U+FF01-U+FF5E), which NFKC maps back to ASCII."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


def codes(problems: list[Problem]) -> list[str]:
    return [problem.code for problem in problems]


# -- length ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "second_factor", "expected"),
    [
        pytest.param("q" * 0 + "tugboatumbrell", False, [TOO_SHORT], id="14-refused"),
        pytest.param("tugboatumbrella", False, [], id="15-accepted"),
        pytest.param("tugboatumbrella" + "x" * 49, False, [], id="64-accepted"),
        pytest.param("tugboatumbrella" + "x" * 50, False, [], id="65-accepted-by-default"),
        pytest.param("tugboatu", True, [], id="8-with-second-factor"),
        pytest.param("tugbotz", True, [TOO_SHORT], id="7-with-second-factor"),
        pytest.param("tugboatu", False, [TOO_SHORT], id="8-without-second-factor"),
    ],
)
def test_length_bounds(
    policy: PasswordPolicy, password: str, second_factor: bool, expected: list[str]
) -> None:
    """15 characters alone, 8 with a second factor; long passwords are welcome."""
    assert codes(policy.check(password, second_factor=second_factor)) == expected


def test_too_short_message(policy: PasswordPolicy) -> None:
    """The message names the minimum that applies, in plain words."""
    assert policy.check("tugbotz") == [Problem(TOO_SHORT, "Use at least 15 characters.")]
    assert policy.check("tugbotz", second_factor=True)[0].message == "Use at least 8 characters."


def test_configured_maximum() -> None:
    """With a maximum of 64, 64 characters pass and 65 are too long."""
    policy = PasswordPolicy(max_length=64)
    assert policy.check("tugboatumbrella" + "x" * 49) == []
    assert policy.check("tugboatumbrella" + "x" * 50) == [
        Problem(TOO_LONG, "Use at most 64 characters.")
    ]


def test_hasher_bound(policy: PasswordPolicy) -> None:
    """1,024 characters are accepted; past that only TOO_LONG is reported, without any
    other work on the input."""
    assert policy.check("tugboatumbrella" + "xy" * 504 + "z") == []
    assert codes(policy.check("a" * 1_000_000)) == [TOO_LONG]


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        # "é" as "e" + U+0301: 30 code points typed, 15 after NFKC.
        pytest.param("tugboatumbrelae".replace("e", "e\u0301"), [], id="combining-15"),
        pytest.param("tugbo\u0301atumbrela", [TOO_SHORT], id="combining-14"),
        # Full-width letters are their ASCII twins after NFKC: 15 characters.
        pytest.param(wide("tugboatumbrella"), [], id="full-width-15"),
        # U+FB00 "ﬀ" is two letters after NFKC: 13 typed, 14 counted, still short.
        pytest.param("tugboat\ufb00umbr", [TOO_SHORT], id="ligature-counted-after-nfkc"),
        pytest.param("🦄🌈🍕🚀🎸🐙🌵🧁🎲🪁🦉🍄🛶🎻🧭", [], id="15-emoji"),
        pytest.param("🦄🌈🍕🚀🎸🐙🌵🧁🎲🪁🦉🍄🛶🎻", [TOO_SHORT], id="14-emoji"),
        pytest.param("пурпурный буксир", [], id="cyrillic-with-space"),
        pytest.param(GOOD, [], id="spaces-allowed"),
        pytest.param("onlylowercasewords", [], id="no-composition-rules"),
    ],
)
def test_unicode_counted_after_nfkc(
    policy: PasswordPolicy, password: str, expected: list[str]
) -> None:
    """Any Unicode is accepted, and its length is the code points of its NFKC form."""
    assert codes(policy.check(password)) == expected


def test_not_a_string(policy: PasswordPolicy) -> None:
    """A non-string is refused before any rule, as the hasher refuses it."""
    with pytest.raises(PasswordRefused):
        policy.check(t.cast(str, b"tugboatumbrellas"))


# -- blocklist and repetition ------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        pytest.param(COMMON_15, id="as-listed"),
        pytest.param(COMMON_15.upper(), id="upper-case"),
        pytest.param(wide("QWERTY123456789"), id="full-width"),
    ],
)
def test_common_password_refused(policy: PasswordPolicy, password: str) -> None:
    """A password on the shipped list is refused in any case and width."""
    assert policy.check(password) == [
        Problem(COMMON, "This is one of the most common passwords. Choose another.")
    ]


def test_short_common_password_reports_both(policy: PasswordPolicy) -> None:
    """ "Password" with a second factor is long enough but common."""
    assert codes(policy.check("Password", second_factor=True)) == [COMMON]


def test_shipped_list_size() -> None:
    """The list holds 100,000 distinct folded passwords, most common first."""
    with gzip.open(blocklist.DATA_FILE, "rt", encoding="utf-8") as lines:
        entries = lines.read().splitlines()
    assert len(entries) == len(set(entries)) == len(blocklist.common_passwords()) == 100_000
    assert entries[:3] == ["123456", "password", "12345678"]
    assert all(entry == blocklist.fold(entry) for entry in entries[:1000])


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("aaaaaaaaaaaaaaa", id="one-character"),
        pytest.param("               ", id="spaces"),
        pytest.param("abababababababab", id="two-character-block"),
        pytest.param("xyzwxyzwxyzwxyzw", id="four-character-block"),
        pytest.param("123456789012345", id="digits-wrapping"),
        pytest.param("5432109876543210", id="digits-down"),
        pytest.param("mnopqrstuvwxyzab", id="letters-wrapping"),
        pytest.param("ZYXWVUTSRQPONMLK", id="letters-down-upper-case"),
        pytest.param(wide("123456789012345"), id="full-width-digits"),
    ],
)
def test_repetitive_refused(policy: PasswordPolicy, password: str) -> None:
    """One short block repeated, or one run of the digits or the alphabet, is refused."""
    assert codes(policy.check(password)) == [REPETITIVE]


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("aaaaaaaaaaaaaab", id="one-different"),
        pytest.param("abcdeabcdeabcde", id="five-character-block"),
        pytest.param("1234567890abcdef", id="two-alphabets"),
        pytest.param("1357913579135791", id="steps-of-two"),
        pytest.param("ab", id="too-short-to-judge"),
    ],
)
def test_near_repetitive_not_flagged(password: str) -> None:
    """Patterns outside the definition are left to the length rule and the feedback."""
    assert not blocklist.is_repetitive(blocklist.fold(password))


def test_blocklist_off() -> None:
    """blocklist=False accepts common and repetitive passwords."""
    policy = PasswordPolicy(blocklist=False)
    assert policy.check(COMMON_15) == []
    assert policy.check("aaaaaaaaaaaaaaa") == []


# -- context words -----------------------------------------------------------------------


def test_context_words_of_an_email() -> None:
    """An address gives its local part, its words and its domain labels but the last;
    words under four characters are dropped."""
    assert context_words(["Jane.Doe@Example-Corp.co.uk", "bob", "Night Owl"]) == {
        "jane.doe",
        "jane",
        "example-corp",
        "night owl",
        "night",
    }


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("my name is JANE and I sail", id="local-part-word"),
        pytest.param("tugboat example-corp umbrellas", id="domain-label"),
        pytest.param(wide("jane sails tugboats"), id="full-width"),
    ],
)
def test_context_word_refused(policy: PasswordPolicy, password: str) -> None:
    """A password holding a word of the user's address is refused."""
    assert policy.check(password, context=["jane.doe@example-corp.com"]) == [
        Problem(
            CONTEXT,
            "Do not use your email address, your user name or the name of this site in "
            "your password.",
        )
    ]


def test_short_context_word_and_tld_ignored(policy: PasswordPolicy) -> None:
    """ "doe", "bob" and the "com" of the address do not refuse a password."""
    assert policy.check("doe bob com tugboats", context=["jane.doe@example.com", "bob"]) == []


def test_site_name_refused() -> None:
    """The site's name is a context word of every check."""
    policy = PasswordPolicy(site_name="Acme Vault")
    assert codes(policy.check("my vault of tugboats")) == [CONTEXT]
    assert codes(policy.check(GOOD)) == []


def test_every_failure_reported_together() -> None:
    """A password breaking several rules gets every problem at once."""
    policy = PasswordPolicy(site_name="password")
    assert codes(policy.check("Password", context=["password@example.org"])) == [
        TOO_SHORT,
        COMMON,
        CONTEXT,
    ]
    assert codes(PasswordPolicy(max_length=64).check("aaaa" * 20, context=["aaaa"])) == [
        TOO_LONG,
        REPETITIVE,
        CONTEXT,
    ]


def test_validate_raises_with_every_problem(policy: PasswordPolicy) -> None:
    """validate raises PasswordRejected listing the problems; its text never holds the
    password."""
    secret = "Tugbotz"
    with pytest.raises(PasswordRejected) as info:
        policy.validate(secret, context=["tugbotz@example.org"])
    assert codes(info.value.problems) == [TOO_SHORT, CONTEXT]
    assert isinstance(info.value, BastionError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith("Use at least 15 characters. Do not use your email")
    assert secret.lower() not in str(info.value).lower()
    assert policy.validate(GOOD) is None


# -- feedback ----------------------------------------------------------------------------


def test_feedback_scores(policy: PasswordPolicy) -> None:
    """A common password scores 0 with a warning; a long passphrase scores high."""
    weak = policy.feedback("password")
    assert weak.score == 0 and weak.warning
    assert policy.feedback("purple tugboat umbrellas sing at noon").score >= 3


def test_feedback_uses_context() -> None:
    """The user's own words make a password score lower."""
    password = "zanzibarquokka"
    plain = PasswordPolicy().feedback(password)
    known = PasswordPolicy(site_name="Zanzibar").feedback(password, ["quokka@example.org"])
    assert known.score < plain.score


def test_feedback_input_capped(policy: PasswordPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    """zxcvbn sees at most 72 characters (its own bound); past the maximum it is not
    called at all."""
    seen: list[str] = []
    real = zxcvbn.zxcvbn

    def spy(password: str, user_inputs: list[str]) -> dict[str, t.Any]:
        seen.append(password)
        return t.cast(dict[str, t.Any], real(password, user_inputs=user_inputs))

    monkeypatch.setattr(zxcvbn, "zxcvbn", spy)
    assert policy.feedback("x1y2" * 200).score >= 0
    assert [len(password) for password in seen] == [72]
    over = PasswordPolicy(max_length=64).feedback("x" * 65)
    assert (over.score, over.suggestions) == (0, ("Use at most 64 characters.",))
    assert len(seen) == 1


# -- the breached-password range API -----------------------------------------------------


class RangeServer:
    """A Pwned Passwords range API on 127.0.0.1, answering with :attr:`body` and
    :attr:`status`; :attr:`hold` keeps each answer back until it is set."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.headers: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.hold = threading.Event()
        self.hold.set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Add-Padding")))
                server.hold.wait(10)
                self.send_response(server.status)
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                # The client may stop reading: what some tests want.
                with contextlib.suppress(ConnectionError):
                    self.wfile.write(server.body)

            def log_message(self, format: str, *args: t.Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/range"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def answer(self, password: str, count: int, *, padding: int = 3) -> None:
        """Answer with ``password``'s suffix at ``count`` among others and padding."""
        suffix = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()[5:]
        lines = [f"{'0' * 34}1:7", f"{suffix}:{count}"]
        lines += [f"{'F' * 34}{i}:0" for i in range(padding)]
        self.body = "\r\n".join(lines).encode()


@pytest.fixture
def range_api() -> Iterator[RangeServer]:
    server = RangeServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.hold.set()
        server.httpd.shutdown()
        server.httpd.server_close()


def breached_policy(url: str, fail: str = "open", timeout: float = 2.0) -> PasswordPolicy:
    return PasswordPolicy(breached=BreachedPasswords(url, timeout=timeout), breached_fail=fail)


def test_breached_password_refused(range_api: RangeServer) -> None:
    """A password the range lists with a count is refused; the API saw only the prefix,
    with padding asked for."""
    range_api.answer(GOOD, 42)
    assert breached_policy(range_api.url).check(GOOD) == [
        Problem(BREACHED, "This password has appeared in a data breach. Choose another.")
    ]
    prefix = hashlib.sha1(GOOD.encode(), usedforsecurity=False).hexdigest().upper()[:5]
    assert range_api.requests == [(f"/range/{prefix}", "true")]


def test_breached_lookup_uses_nfkc(range_api: RangeServer) -> None:
    """The password is looked up in its NFKC form, the one the hasher stores."""
    range_api.answer("tugboat umbrella 1", 3)
    assert codes(breached_policy(range_api.url).check(wide("tugboat umbrella 1"))) == [BREACHED]


def test_not_breached_accepted(range_api: RangeServer) -> None:
    """A password whose suffix is not in the range is accepted."""
    range_api.answer("another password entirely", 9)
    assert breached_policy(range_api.url).check(GOOD) == []


def test_padding_line_is_not_a_hit(range_api: RangeServer) -> None:
    """The password's suffix with a count of 0 is padding, not a breach."""
    range_api.answer(GOOD, 0)
    assert BreachedPasswords(range_api.url).count(GOOD) == 0
    assert breached_policy(range_api.url).check(GOOD) == []


def test_common_or_over_long_password_not_sent(range_api: RangeServer) -> None:
    """A password refused as common, or over the maximum, is not looked up."""
    policy = PasswordPolicy(
        max_length=64, breached=BreachedPasswords(range_api.url), breached_fail="open"
    )
    assert codes(policy.check(COMMON_15)) == [COMMON]
    assert codes(policy.check("tugboat" * 10)) == [TOO_LONG]
    assert range_api.requests == []


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        pytest.param("open", [], id="fail-open"),
        pytest.param("closed", [BREACHED_UNAVAILABLE], id="fail-closed"),
    ],
)
def test_server_down(fail: str, expected: list[str], caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listening: fail open accepts with a warning, fail closed asks to retry."""
    policy = breached_policy(f"http://127.0.0.1:{free_port()}/range", fail)
    with caplog.at_level(logging.WARNING, "flask_bastion.security"):
        problems = policy.check(GOOD)
    assert codes(problems) == expected
    assert [r.event for r in caplog.records] == ["password.breached_check_failed"]  # type: ignore[attr-defined]
    assert GOOD not in caplog.text


def test_unavailable_message() -> None:
    """Fail closed says, in plain words, to try again."""
    policy = breached_policy(f"http://127.0.0.1:{free_port()}/range", "closed")
    assert policy.check(GOOD)[0].message == (
        "We could not check this password right now; try again shortly."
    )


def test_slow_server_times_out(range_api: RangeServer) -> None:
    """An answer held past the timeout is a failure, after about the timeout."""
    range_api.hold.clear()
    policy = breached_policy(range_api.url, "closed", timeout=0.2)
    assert codes(policy.check(GOOD)) == [BREACHED_UNAVAILABLE]
    range_api.hold.set()


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        pytest.param(200, b"<html>not a range</html>", {}, id="html"),
        pytest.param(200, b"ABCDEF:12\r\n", {}, id="short-suffix"),
        pytest.param(200, b"0" * 35 + b":many", {}, id="count-not-a-number"),
        pytest.param(200, "É".encode() * 10, {}, id="not-ascii"),
        pytest.param(200, (b"0" * 35 + b":1\n") * 30_000, {}, id="over-one-mebibyte"),
        pytest.param(500, b"", {}, id="server-error"),
        pytest.param(302, b"", {"Location": "http://127.0.0.1:9/elsewhere"}, id="redirect"),
    ],
)
def test_malformed_answer_is_a_failure(
    range_api: RangeServer, status: int, body: bytes, headers: dict[str, str]
) -> None:
    """Anything but a range (or a redirect, never followed) fails the check."""
    range_api.status, range_api.body, range_api.headers = status, body, headers
    with pytest.raises(BreachedCheckFailed):
        BreachedPasswords(range_api.url).count(GOOD)
    assert len(range_api.requests) == 1


def test_blank_lines_and_lower_case_accepted(range_api: RangeServer) -> None:
    """Blank lines are skipped and suffixes compared without case."""
    range_api.answer(GOOD, 5)
    range_api.body = b"\r\n" + range_api.body.lower() + b"\r\n\r\n"
    assert BreachedPasswords(range_api.url).count(GOOD) == 5


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://api.pwnedpasswords.com/range", id="plain-http"),
        pytest.param("http://10.0.0.1/range", id="plain-http-private"),
        pytest.param("ftp://127.0.0.1/range", id="ftp"),
        pytest.param("https://user:pw@example.org/range", id="credentials"),
        pytest.param("https://example.org/range?x=1", id="query"),
        pytest.param("/range", id="relative"),
    ],
)
def test_range_url_refused(url: str) -> None:
    """Only https://, or http:// to loopback, without credentials or a query."""
    with pytest.raises(ValueError, match="expected"):
        BreachedPasswords(url)
    with pytest.raises(ConfigurationError) as info:
        make_app(BASTION_PASSWORDS_BREACHED_URL=url)
    assert info.value.key == "BASTION_PASSWORDS_BREACHED_URL"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.pwnedpasswords.com/range/",
        "http://127.0.0.1:8080/range",
        "http://localhost/range",
        "http://[::1]/range",
    ],
)
def test_range_url_accepted(url: str) -> None:
    """HTTPS anywhere, plain HTTP on loopback; a trailing slash is dropped."""
    assert BreachedPasswords(url).url == url.rstrip("/")
    assert "timeout=2.0" in repr(BreachedPasswords(url))


# -- settings and the application's policy -----------------------------------------------


def test_policy_from_settings(range_api: RangeServer) -> None:
    """password_policy builds the policy from BASTION_PASSWORDS_* once per application."""
    app = make_app(
        BASTION_PASSWORDS_MIN_LENGTH=12,
        BASTION_PASSWORDS_MIN_LENGTH_SECOND_FACTOR=10,
        BASTION_PASSWORDS_MAX_LENGTH=64,
        BASTION_PASSWORDS_SITE_NAME="Acme Vault",
        BASTION_PASSWORDS_BLOCKLIST="false",
        BASTION_PASSWORDS_BREACHED_URL=range_api.url,
        BASTION_PASSWORDS_BREACHED_FAIL="closed",
        BASTION_PASSWORDS_BREACHED_TIMEOUT="0.5",
    )
    policy = password_policy(app)
    assert password_policy(app) is policy
    assert (policy.min_length, policy.min_length_second_factor, policy.max_length) == (12, 10, 64)
    assert policy.blocklist is False and policy.breached_fail == "closed"
    assert policy.breached is not None and policy.breached.timeout == 0.5
    assert "acme" in policy.site_words
    with app.app_context():
        assert password_policy() is policy


def test_default_policy_of_an_app() -> None:
    """By default: 15/8/1024, blocklist on, no breached check, the app's name as site."""
    app = Flask("tugboat_shop")
    app.config.update(SECRET_KEY="x" * 64)
    from flask_bastion import Bastion

    Bastion(app)
    policy = password_policy(app)
    assert (policy.min_length, policy.min_length_second_factor, policy.max_length) == (15, 8, 1024)
    assert policy.blocklist is True and policy.breached is None
    assert codes(policy.check("my tugboat is red")) == [CONTEXT]


def test_main_module_name_is_not_a_site_name() -> None:
    """An application named __main__ gives no context word ("main")."""
    app = Flask("__main__")
    app.config.update(SECRET_KEY="x" * 64)
    from flask_bastion import Bastion

    Bastion(app)
    assert password_policy(app).site_words == frozenset()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("BASTION_PASSWORDS_MIN_LENGTH", 0, id="min-0"),
        pytest.param("BASTION_PASSWORDS_MIN_LENGTH", 65, id="min-65"),
        pytest.param("BASTION_PASSWORDS_MIN_LENGTH_SECOND_FACTOR", 0, id="second-0"),
        pytest.param("BASTION_PASSWORDS_MAX_LENGTH", 63, id="max-63"),
        pytest.param("BASTION_PASSWORDS_MAX_LENGTH", 1025, id="max-1025"),
        pytest.param("BASTION_PASSWORDS_BREACHED_FAIL", "maybe", id="fail-unknown"),
        pytest.param("BASTION_PASSWORDS_BREACHED_TIMEOUT", 0, id="timeout-0"),
        pytest.param("BASTION_PASSWORDS_BREACHED_TIMEOUT", 31, id="timeout-31"),
        pytest.param("BASTION_PASSWORDS_BREACHED_TIMEOUT", "soon", id="timeout-word"),
        pytest.param("BASTION_PASSWORDS_BREACHED_TIMEOUT", True, id="timeout-bool"),
        pytest.param("BASTION_PASSWORDS_BREACHED_TIMEOUT", float("nan"), id="timeout-nan"),
        pytest.param("BASTION_PASSWORDS_BLOCKLIST", "maybe", id="blocklist-word"),
    ],
)
def test_bad_setting_refused(key: str, value: object) -> None:
    """Out-of-range policy settings stop init_app with an error naming the key."""
    with pytest.raises(ConfigurationError) as info:
        make_app(**{key: value})
    assert info.value.key == key


@pytest.mark.parametrize(
    ("value", "expected"),
    [pytest.param(1, 1.0, id="int"), pytest.param("0.25", 0.25, id="decimal-string")],
)
def test_timeout_setting_parsed(value: object, expected: float) -> None:
    """The timeout takes seconds as a number or a decimal string."""
    app = make_app(BASTION_PASSWORDS_BREACHED_TIMEOUT=value)
    from flask_bastion.context import get_state

    assert get_state(app).config.passwords.breached_timeout == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"max_length": 63}, id="max-63"),
        pytest.param({"max_length": 1025}, id="max-1025"),
        pytest.param({"min_length": 0}, id="min-0"),
        pytest.param({"min_length_second_factor": 0}, id="second-0"),
        pytest.param({"breached_fail": "sometimes"}, id="fail-mode"),
    ],
)
def test_policy_arguments_checked(kwargs: dict[str, t.Any]) -> None:
    """PasswordPolicy refuses bounds outside the guideline's and an unknown fail mode."""
    with pytest.raises(ValueError):
        PasswordPolicy(**kwargs)


def test_second_factor_minimum_never_above_minimum() -> None:
    """A second factor never makes the minimum longer."""
    policy = PasswordPolicy(min_length=10, min_length_second_factor=12)
    assert policy.min_length_second_factor == 10
    assert policy.check("tugboatumb", second_factor=True) == []
