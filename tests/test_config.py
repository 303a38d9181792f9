"""Configuration: precedence, validation, unknown keys, profiles."""

from __future__ import annotations

import ipaddress
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_bastion import Bastion, ConfigurationError, get_state
from flask_bastion.config import load_config, settings, value_of
from flask_bastion.config.parsers import RESERVED_RESPONSE_HEADERS
from flask_bastion.config.sections import MAX_SESSION_TIMEOUT, MAX_STORE_TIMEOUT
from flask_bastion.stores import StoreError
from flask_bastion.stores.sql import SQLDatabase

from .conftest import HTTPS, SECRET, make_app
from .test_sessions import session_app


def test_defaults_are_production() -> None:
    """With no configuration the production profile and every protection are on."""
    config = load_config({}, {})
    assert config.core.profile == "production"
    assert config.https.redirect is True
    assert config.https.hsts_max_age == 31_536_000
    assert config.csp.enabled is True and config.csp.report_only is False
    assert config.proxy.trusted_hops == 0 and config.proxy.trusted_cidrs == ()
    assert set(config.sources.values()) == {"default"}


def test_keyword_beats_app_config() -> None:
    """A constructor keyword wins over app.config, which wins over the default."""
    config = load_config(
        {"BASTION_HTTPS_HSTS_MAX_AGE": 100, "BASTION_HTTPS_HSTS_PRELOAD": True},
        {"https_hsts_max_age": 200},
    )
    assert config.https.hsts_max_age == 200
    assert config.https.hsts_preload is True
    assert config.sources["BASTION_HTTPS_HSTS_MAX_AGE"] == "keyword"
    assert config.sources["BASTION_HTTPS_HSTS_PRELOAD"] == "app.config"
    assert config.sources["BASTION_HTTPS_REDIRECT"] == "default"


def test_keyword_may_be_full_key() -> None:
    """Keywords may also be spelt as the full upper-case key."""
    assert load_config({}, {"BASTION_CSP_REPORT_ONLY": True}).csp.report_only is True


def test_unknown_app_config_key_names_closest() -> None:
    """A misspelt BASTION_ key raises, naming the key and the closest known key."""
    with pytest.raises(ConfigurationError) as info:
        load_config({"BASTION_HTTPS_HSTS_MAXAGE": 5}, {})
    assert info.value.key == "BASTION_HTTPS_HSTS_MAXAGE"
    assert "BASTION_HTTPS_HSTS_MAX_AGE" in str(info.value)


def test_unknown_keyword_raises() -> None:
    """A misspelt constructor keyword raises too."""
    with pytest.raises(ConfigurationError, match="BASTION_CSP_REPORTONLY"):
        load_config({}, {"csp_reportonly": True})


def test_non_bastion_keys_are_ignored() -> None:
    """Keys without the BASTION_ prefix belong to the app and are not validated."""
    assert load_config({"SECRET_KEY": "x", "BASTIONX": 1}, {}).core.profile == "production"


@pytest.mark.parametrize(
    ("key", "value", "expected_text"),
    [
        ("BASTION_PROFILE", "staging", "'production', 'development'"),
        ("BASTION_HTTPS_REDIRECT", "maybe", "boolean"),
        ("BASTION_HTTPS_REDIRECT", 2, "boolean"),
        ("BASTION_HTTPS_HSTS_MAX_AGE", -1, "non-negative integer"),
        ("BASTION_HTTPS_HSTS_MAX_AGE", True, "non-negative integer"),
        ("BASTION_PROXY_TRUSTED_HOPS", "two", "non-negative integer"),
        ("BASTION_PROXY_TRUSTED_CIDRS", ["10.0.0.0/33"], "IP network"),
        ("BASTION_HEADERS_FRAME_OPTIONS", "ALLOW-FROM x", "'DENY', 'SAMEORIGIN', None"),
        ("BASTION_HEADERS_REFERRER_POLICY", "never", "strict-origin-when-cross-origin"),
        ("BASTION_CSP_POLICY", ["default-src"], "mapping"),
        ("BASTION_CSP_POLICY", {"script src": ["'self'"]}, "directive"),
        ("BASTION_INPUTS_MAX_CONTENT_LENGTH", 0, "positive integer"),
        ("BASTION_ERRORS_REQUEST_ID_HEADER", "X Request\nID", "header name"),
        ("BASTION_SILENCED_CHECKS", 5, "list of strings"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_invalid_values_name_key_and_valid_values(
    key: str, value: object, expected_text: str
) -> None:
    """An invalid value raises ConfigurationError naming the key and what is valid."""
    with pytest.raises(ConfigurationError) as info:
        load_config({key: value}, {})
    assert info.value.key == key
    assert expected_text in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "masked"),
    [
        (
            "BASTION_SESSIONS_URL",
            ["postgresql://app:s3cret@db.internal/prod"],
            "postgresql://app:***@db.internal/prod",
        ),
        (
            "BASTION_CSRF_TRUSTED_ORIGINS",
            "https://admin:s3cret@admin.example.org",
            "https://admin:***@admin.example.org",
        ),
        ("BASTION_CSP_REPORT_TO", {"url": "https://x.example/r?token=s3cret"}, "token=***"),
    ],
    ids=["url-in-a-list", "origin-with-userinfo", "token-parameter"],
)
def test_invalid_value_message_masks_url_credentials(key: str, value: object, masked: str) -> None:
    """A ConfigurationError echoing a rejected URL masks its password and secret
    parameters: the message ends up in tracebacks and deploy logs."""
    with pytest.raises(ConfigurationError) as info:
        load_config({key: value}, {})
    assert info.value.key == key
    assert "s3cret" not in str(info.value)
    assert masked in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("0", False), ("Off", False), (True, True), (1, True), (0, False)],
    ids=["true", "0", "Off", "bool", "int-1", "int-0"],
)
def test_booleans_accept_environment_strings(raw: object, expected: bool) -> None:
    """Boolean settings accept the strings environment variables carry."""
    assert load_config({"BASTION_HTTPS_REDIRECT": raw}, {}).https.redirect is expected


def test_lists_accept_comma_separated_strings() -> None:
    """List settings accept one comma-separated string (from the environment)."""
    config = load_config({"BASTION_PROXY_TRUSTED_CIDRS": "10.0.0.0/8, ::1"}, {})
    assert config.proxy.trusted_cidrs == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


def test_config_is_frozen() -> None:
    """The loaded configuration cannot be changed at run time."""
    config = load_config({}, {})
    with pytest.raises(AttributeError):
        config.https.redirect = False  # type: ignore[misc]


def test_every_setting_is_documented() -> None:
    """Every setting has a key, a one-line doc and a default that parses."""
    for info in settings():
        assert info.key.startswith("BASTION_")
        assert info.doc
        assert info.parse(info.default) == info.default


def test_two_apps_keep_independent_configuration() -> None:
    """Two apps in one process keep their own settings and behaviour."""
    strict = make_app()
    relaxed = make_app(BASTION_HTTPS_REDIRECT=False, BASTION_HEADERS_FRAME_OPTIONS="SAMEORIGIN")
    assert get_state(strict).config.https.redirect is True
    assert get_state(relaxed).config.https.redirect is False
    assert strict.test_client().get("/", base_url="http://localhost").status_code == 308
    response = relaxed.test_client().get("/", base_url="http://localhost")
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert (
        strict.test_client().get("/", base_url="https://localhost").headers["X-Frame-Options"]
        == "DENY"
    )


def test_one_extension_serves_two_apps_in_factory_style() -> None:
    """One Bastion() instance initialises several apps (application factory)."""
    bastion = Bastion(https_hsts_max_age=600)
    first, second = Flask("first"), Flask("second")
    for app in (first, second):
        app.config["SECRET_KEY"] = SECRET
        bastion.init_app(app)
    assert get_state(first) is not get_state(second)
    assert get_state(first).config.https.hsts_max_age == 600
    assert get_state(second).extension is bastion


def test_init_app_twice_raises() -> None:
    """Initialising the same app twice is a configuration error, not a double hook."""
    app = make_app()
    with pytest.raises(ConfigurationError, match="already initialised"):
        Bastion(app)


def test_development_profile_logs_what_it_relaxes(caplog: pytest.LogCaptureFixture) -> None:
    """The development profile says at start-up what it relaxes."""
    with caplog.at_level("WARNING"):
        make_app(BASTION_PROFILE="development")
    assert any("development profile" in r.getMessage() for r in caplog.records)


def test_production_profile_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """The production profile starts silently."""
    with caplog.at_level("WARNING"):
        make_app()
    assert not [r for r in caplog.records if "profile" in r.getMessage()]


def test_get_state_without_init_raises() -> None:
    """get_state on an app without Bastion explains itself."""
    with pytest.raises(RuntimeError, match="not initialised"):
        get_state(Flask("bare"))


#: Values that would reach a response header (or a key) if accepted, by setting.
HOSTILE = [
    ("BASTION_CSP_POLICY", {"img-src": ["'self'; script-src *"]}, "csp-semicolon"),
    ("BASTION_CSP_POLICY", {"img-src": ["'self'\r\nSet-Cookie: a=b"]}, "csp-crlf"),
    ("BASTION_CSP_POLICY", {"img-src": ["'self'\nX-Injected: 1"]}, "csp-lf"),
    ("BASTION_CSP_POLICY", {"img-src": ["https://a.example,'unsafe-inline'"]}, "csp-comma"),
    ("BASTION_CSP_POLICY", {"img-src": ["'self'\x00"]}, "csp-nul"),
    ("BASTION_CSP_POLICY", {"img-src": "'self'\u00a0https:"}, "csp-nbsp"),
    ("BASTION_CSP_POLICY", {"img-src\r\nX-Injected": ["'self'"]}, "csp-name-crlf"),
    ("BASTION_CSP_POLICY", {"scr\u00edpt-src": ["'self'"]}, "csp-name-unicode"),
    ("BASTION_CSP_POLICY", {"script-src": ["self"]}, "csp-unquoted-keyword"),
    ("BASTION_CSP_POLICY", {"script-src": ["'unsafe_inline'"]}, "csp-unknown-keyword"),
    ("BASTION_CSP_POLICY", {"script-src": ["'nonce-abc123'"]}, "csp-fixed-nonce"),
    ("BASTION_CSP_POLICY", {"script-src": ["https://a.example/<x>"]}, "csp-bad-host"),
    ("BASTION_CSP_POLICY", {"script-src": "'self'", "Script-Src": "*"}, "csp-name-twice"),
    ("BASTION_CSP_REPORT_URI", "/csp\r\nSet-Cookie: a=b", "report-uri-crlf"),
    ("BASTION_CSP_REPORT_URI", "/csp; script-src *", "report-uri-semicolon"),
    ("BASTION_CSP_REPORT_URI", "javascript:alert(1)", "report-uri-scheme"),
    ("BASTION_CSP_REPORT_URI", "//evil.example/csp", "report-uri-scheme-relative"),
    # Sent to every visitor in the CSP header: credentials there would be public.
    ("BASTION_CSP_REPORT_URI", "https://reporter:s3cret@csp.example/r", "report-uri-userinfo"),
    ("BASTION_CSP_REPORT_TO", 'https://r.example/"x', "report-to-quote"),
    ("BASTION_CSP_REPORT_TO", "https://r.example/a\nb", "report-to-lf"),
    ("BASTION_CSP_REPORT_TO", "https://r.example/a,b", "report-to-comma"),
    ("BASTION_HEADERS_PERMISSIONS_POLICY", {"camera": ["'self'"]}, "pp-quoted-self"),
    ("BASTION_HEADERS_PERMISSIONS_POLICY", {"camera": ['https://a.example" *']}, "pp-quote"),
    ("BASTION_HEADERS_PERMISSIONS_POLICY", {"camera": ["https://a.example/x"]}, "pp-path"),
    ("BASTION_HEADERS_PERMISSIONS_POLICY", {"camera\r\nX-Injected": []}, "pp-name-crlf"),
    ("BASTION_HEADERS_PERMISSIONS_POLICY", {"camera=*": []}, "pp-name-equals"),
    ("BASTION_ERRORS_REQUEST_ID_HEADER", "X-R\u00e9quest-ID", "request-id-unicode"),
    ("BASTION_ERRORS_REQUEST_ID_HEADER", "X-Request-ID\n", "request-id-lf"),
    ("BASTION_CSRF_TRUSTED_ORIGINS", ["https://a.example.org\n"], "origin-trailing-lf"),
    ("BASTION_CSRF_TOKEN_HEADER", "X-CSRF-T\u00f6ken", "token-header-unicode"),
    ("BASTION_CSRF_FIELD_NAME", "csrf_token\n", "field-name-lf"),
    ("BASTION_SESSIONS_COOKIE_NAME", "s\u00e9ssion", "cookie-name-unicode"),
    ("BASTION_SESSIONS_COOKIE_NAME", "session\n", "cookie-name-lf"),
    ("BASTION_SESSIONS_KEY_PREFIX", "", "key-prefix-empty"),
    ("BASTION_SESSIONS_KEY_PREFIX", "a b:", "key-prefix-space"),
    ("BASTION_SESSIONS_KEY_PREFIX", "x" * 65, "key-prefix-long"),
    ("BASTION_HTTPS_HSTS_MAX_AGE", "\u00b2", "int-superscript-two"),
    ("BASTION_HTTPS_HSTS_MAX_AGE", "\u0661\u0662", "int-arabic-indic"),
    ("BASTION_SESSIONS_IDLE_TIMEOUT", "9" * 5000, "int-5000-digits"),
    ("BASTION_PROXY_TRUSTED_HOPS", "\u00b9", "int-superscript-one"),
    ("BASTION_PROXY_TRUSTED_CIDRS", ["::1%' OR '1'='1"], "cidr-zone-injection"),
]


@pytest.mark.parametrize(
    ("key", "value"), [(k, v) for k, v, _ in HOSTILE], ids=[i for _, _, i in HOSTILE]
)
def test_header_bound_values_are_refused_at_init_app(key: str, value: object) -> None:
    """A value that could smuggle a header, directive or list member fails init_app."""
    with pytest.raises(ConfigurationError) as info:
        make_app(**{key: value})
    assert info.value.key == key


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("BASTION_HTTPS_HSTS_MAX_AGE", " 600 ", 600),
        ("BASTION_CSRF_TRUSTED_ORIGINS", "https://a.example.org\n", ("https://a.example.org",)),
        (
            "BASTION_PROXY_TRUSTED_CIDRS",
            ["fe80::%eth0/64"],
            (ipaddress.ip_network("fe80::/64"),),
        ),
        ("BASTION_CSP_REPORT_URI", "", None),
        ("BASTION_CSP_REPORT_TO", "/reports/csp", "/reports/csp"),
    ],
    ids=["int-spaces", "origin-list-string", "cidr-plain-zone", "report-uri-empty", "report-to"],
)
def test_clean_values_are_accepted(key: str, value: object, expected: object) -> None:
    """Well-formed values pass: surrounding spaces of a list string, a plain IPv6 zone."""
    assert value_of(load_config({key: value}, {}), key) == expected


# -- bounded timeouts --------------------------------------------------------------------

BOUNDED = [
    ("BASTION_STORES_CONNECT_TIMEOUT", 1, MAX_STORE_TIMEOUT),
    ("BASTION_STORES_STATEMENT_TIMEOUT", 1, MAX_STORE_TIMEOUT),
    ("BASTION_STORES_REDIS_TIMEOUT", 1, MAX_STORE_TIMEOUT),
    ("BASTION_SESSIONS_IDLE_TIMEOUT", 0, MAX_SESSION_TIMEOUT),
    ("BASTION_SESSIONS_ABSOLUTE_TIMEOUT", 0, MAX_SESSION_TIMEOUT),
]


@pytest.mark.parametrize(("key", "low", "high"), BOUNDED, ids=[k for k, _, _ in BOUNDED])
def test_timeouts_are_bounded(key: str, low: int, high: int) -> None:
    """A timeout takes every value from its lower to its upper bound (as digits from
    the environment too); one past either bound fails init_app, naming the key and the
    range."""
    assert value_of(load_config({key: low}, {}), key) == low
    assert value_of(load_config({key: str(high)}, {}), key) == high
    # 10**400 is past what a float holds: every session request would answer 500.
    for value in (low - 1, high + 1, str(high + 1), 10**400):
        with pytest.raises(ConfigurationError) as info:
            make_app(**{key: value})
        assert info.value.key == key
        assert f"an integer from {low} to {high}" in str(info.value)


@pytest.mark.parametrize(
    ("timeout", "accepted"),
    [(MAX_STORE_TIMEOUT, True), (MAX_STORE_TIMEOUT + 1, False)],
    ids=["longest-accepted", "one-more"],
)
def test_longest_statement_timeout_is_the_longest_postgresql_takes(
    pg_url: str, timeout: int, accepted: bool
) -> None:
    """PostgreSQL connects with the longest statement timeout the setting accepts, and
    refuses every connection with one second more: the bound is PostgreSQL's own."""
    database = SQLDatabase(pg_url, statement_timeout=timeout)
    try:
        if accepted:
            shown = database.run(sa.text("SHOW statement_timeout")).scalar()
            assert shown == f"{timeout}s"
        else:
            with pytest.raises(StoreError):
                database.run(sa.text("SELECT 1"))
    finally:
        database.close()


def test_longest_session_timeouts_work_in_every_store(store_config: dict[str, t.Any]) -> None:
    """A session with the longest idle and absolute timeouts accepted is saved and read
    back by every store (Redis expires keys at a time it must be able to hold)."""
    app = session_app(
        **store_config,
        BASTION_SESSIONS_IDLE_TIMEOUT=MAX_SESSION_TIMEOUT,
        BASTION_SESSIONS_ABSOLUTE_TIMEOUT=MAX_SESSION_TIMEOUT,
    )
    client = app.test_client()
    assert client.post("/write/a/1", base_url=HTTPS).status_code == 200
    assert client.get("/read", base_url=HTTPS).get_json() == {"data": {"a": "1"}}


# -- the request ID header -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RESERVED_RESPONSE_HEADERS))
def test_request_id_header_refuses_reserved_names_in_any_case(name: str) -> None:
    """No hop-by-hop, framing, state, caching or security header can carry the request
    ID, whatever its case."""
    for spelling in (name, name.upper(), name.title()):
        with pytest.raises(ConfigurationError) as info:
            make_app(BASTION_ERRORS_REQUEST_ID_HEADER=spelling)
        assert info.value.key == "BASTION_ERRORS_REQUEST_ID_HEADER"
        assert "its own meaning" in str(info.value)


def test_request_id_header_cannot_be_any_header_bastion_sends() -> None:
    """Every header of Flask-Bastion's responses (pages, errors, CSP reports, HSTS,
    logout) other than the request ID itself is refused as the request ID header."""
    app = session_app(
        BASTION_CSP_REPORT_ONLY=True,
        BASTION_CSP_REPORT_TO="/csp",
        BASTION_HEADERS_FRAME_OPTIONS="DENY",
    )
    client = app.test_client()
    names: set[str] = set()
    client.post("/login/alice", base_url=HTTPS)
    for method, path in [("GET", "/"), ("GET", "/boom"), ("GET", "/missing"), ("POST", "/logout")]:
        names.update(client.open(path, method=method, base_url=HTTPS).headers.keys())
    names.discard("X-Request-ID")
    expected = {"Strict-Transport-Security", "Content-Security-Policy-Report-Only", "Vary"}
    assert expected | {"Reporting-Endpoints", "Clear-Site-Data", "Set-Cookie"} <= names
    assert {name for name in names if name.lower() not in RESERVED_RESPONSE_HEADERS} == set()


def test_request_id_header_of_its_own_is_sent() -> None:
    """A name of the application's own carries the request ID."""
    app = make_app(BASTION_ERRORS_REQUEST_ID_HEADER="X-Correlation-ID")
    response = app.test_client().get("/", base_url=HTTPS)
    assert len(response.headers["X-Correlation-ID"]) == 24
    assert "X-Request-ID" not in response.headers


ORIGIN_KEYS = ["BASTION_CSRF_TRUSTED_ORIGINS", "BASTION_CONTENT_HOTLINK_ALLOW"]


@pytest.mark.parametrize("key", ORIGIN_KEYS, ids=["csrf", "hotlink"])
@pytest.mark.parametrize(
    ("entry", "suffix"),
    [
        pytest.param("https://*.co.uk", "co.uk", id="icann-co-uk"),
        pytest.param("https://*.com.au", "com.au", id="icann-com-au"),
        pytest.param("https://*.github.io", "github.io", id="private-github-io"),
        pytest.param("https://*.herokuapp.com", "herokuapp.com", id="private-herokuapp"),
        pytest.param("https://*.CO.UK", "co.uk", id="upper-case"),
        pytest.param("https://*.Com.Au:8443", "com.au", id="mixed-case-with-port"),
        pytest.param("https://*.co.uk.", "co.uk", id="trailing-dot"),
        pytest.param("https://*.xn--55qx5d.cn", "xn--55qx5d.cn", id="punycode-idn"),
        pytest.param("https://*.XN--55QX5D.CN", "xn--55qx5d.cn", id="punycode-idn-upper"),
        pytest.param("http://*.org", "org", id="top-level-domain"),
        pytest.param("https://*.example", "example", id="unknown-top-level-domain"),
    ],
)
def test_wildcard_over_a_public_suffix_is_refused(key: str, entry: str, suffix: str) -> None:
    """A wildcard origin over a public suffix, which would trust every site anyone can
    register or publish there, is refused naming the setting and the suffix."""
    with pytest.raises(ConfigurationError) as info:
        load_config({key: ["https://admin.example.org", entry]}, {})
    assert info.value.key == key
    assert f"would trust every site under the public suffix {suffix};" in info.value.message


@pytest.mark.parametrize("key", ORIGIN_KEYS, ids=["csrf", "hotlink"])
def test_wildcard_over_a_unicode_suffix_is_refused(key: str) -> None:
    """An internationalised suffix in its own script is no origin a browser sends."""
    with pytest.raises(ConfigurationError) as info:
        load_config({key: ["https://*.公司.cn"]}, {})
    assert info.value.key == key


@pytest.mark.parametrize("key", ORIGIN_KEYS, ids=["csrf", "hotlink"])
def test_wildcard_under_a_registrable_domain_is_accepted(key: str) -> None:
    """Wildcards under a domain someone owns, and exact origins on any host, load."""
    entries = [
        "https://*.example.co.uk",
        "https://*.yours.github.io",
        "https://*.partner.example:8443",
        "https://github.io",
    ]
    assert value_of(load_config({key: entries}, {}), key) == tuple(entries)


@pytest.mark.parametrize(
    ("entry", "suffix"),
    [("https://*.co.uk", "co.uk"), ("https://*.GitHub.io", "github.io")],
    ids=["icann", "private"],
)
def test_permissions_policy_wildcard_over_a_public_suffix_is_refused(
    entry: str, suffix: str
) -> None:
    """A Permissions-Policy allowlist wildcard over a public suffix would hand the
    feature to any stranger's frame there: refused like a trusted origin."""
    key = "BASTION_HEADERS_PERMISSIONS_POLICY"
    with pytest.raises(ConfigurationError) as info:
        load_config({key: {"camera": ["self", entry]}}, {})
    assert info.value.key == key
    assert f"public suffix {suffix};" in info.value.message
    allowed = {"camera": ("self", "https://*.example.co.uk")}
    assert value_of(load_config({key: allowed}, {}), key)["camera"] == allowed["camera"]
