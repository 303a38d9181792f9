"""Attacks on content protection (flask_bastion.content), as another site or the holder of
a signed link would try them. Each test performs the attack and asserts the refusal."""

from __future__ import annotations

import typing as t
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_bastion import (
    Bastion,
    ConfigurationError,
    get_state,
    signals,
    signed_url,
    signed_url_required,
)
from flask_bastion.content import REASON_BAD_SIGNATURE, REASON_MALFORMED
from flask_bastion.origins import origin_of

from .conftest import OPEN_APPS, SECRET
from .test_content import IMAGE, content_app
from .test_content import get as get_media
from .test_content_signed import NOW, SAME_ORIGIN, edit, get, make, signed_app
from .test_ratelimit import hit, limited_app

#: Base64url characters in order: a character's index is the 6 bits it stands for.
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def app() -> Flask:
    return signed_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def signature_of(url: str) -> str:
    return dict(parse_qsl(urlsplit(url).query))["signature"]


# -- signed URLs: one link, one spelling, one meaning ---------------------------------------------


def test_reordering_a_repeated_parameter_is_refused(app: Flask, client: FlaskClient) -> None:
    """``?v=1&v=2`` signed does not open as ``?v=2&v=1``, which a view reading
    ``request.args.get("v")`` takes for another value; other names may move freely."""
    url = make(app, "shared.get", name="x", v=["1", "2"], w="3")
    assert "v=1&v=2&w=3" in url
    assert get(client, url).status_code == 200
    assert get(client, url.replace("v=1&v=2&w=3", "w=3&v=1&v=2")).status_code == 200
    assert get(client, url.replace("v=1&v=2", "v=2&v=1")).status_code == 403


def test_expiry_with_a_leading_zero_is_refused(app: Flask, client: FlaskClient) -> None:
    """``expires=01800003600`` is the same second spelled otherwise: refused as malformed,
    so a link has one spelling (caches, logs and one-time-use lists key on it)."""
    url = make(app, file_id=7)
    expires = dict(parse_qsl(urlsplit(url).query))["expires"]
    assert get(client, edit(url, expires="0" + expires)).status_code == 403


@pytest.mark.parametrize("variant", ["pad-1", "pad-2", "low-bits-1", "low-bits-2", "low-bits-3"])
def test_other_spellings_of_the_signature_are_refused(
    app: Flask, client: FlaskClient, variant: str
) -> None:
    """Base64 padding and the two unused bits of the last character decode to the same
    digest; only the spelling signed_url() wrote is accepted."""
    url = make(app, file_id=7)
    signature = signature_of(url)
    last = B64.index(signature[-1])
    spelled = {
        "pad-1": signature + "=",
        "pad-2": signature + "==",
        "low-bits-1": signature[:-1] + B64[last | 1],
        "low-bits-2": signature[:-1] + B64[last | 2],
        "low-bits-3": signature[:-1] + B64[last | 3],
    }[variant]
    sent: list[str] = []
    with signals.signed_url_rejected.connected_to(
        lambda sender, **kw: sent.append(kw["reason"]), app
    ):
        assert get(client, edit(url, signature=spelled)).status_code == 403
    assert sent == [REASON_MALFORMED]


@pytest.mark.parametrize(
    "path",
    ["/shared/a//b", "/shared/a/b/", "/shared/a/./b", "/shared/a/x/../b", "/shared/A/b"],
    ids=["double-slash", "trailing-slash", "dot-segment", "dot-dot", "case"],
)
def test_path_spellings_naming_another_resource_are_refused(
    app: Flask, client: FlaskClient, path: str
) -> None:
    """The signed path is the decoded path the view is routed by: a path that could name
    another file fails, while ``%2F`` and ``%61`` (which decode to the signed path) pass."""
    url = make(app, "shared.get", name="a/b")
    query = urlsplit(url).query
    assert get(client, f"/shared/%61%2Fb?{query}").status_code == 200
    assert get(client, f"{path}?{query}").status_code == 403


def tenant_app() -> Flask:
    """One tenant per subdomain: the same path is another tenant's file on another host."""
    app = Flask(__name__, subdomain_matching=True)
    app.config.update(
        SECRET_KEY=SECRET,
        SERVER_NAME="files.example",
        TRUSTED_HOSTS=["a.files.example", "b.files.example"],
        BASTION_SESSIONS_STORE="memory",
    )

    @app.get("/files/<int:file_id>", subdomain="<tenant>")
    @signed_url_required
    def download(tenant: str, file_id: int) -> str:
        return f"{tenant} file {file_id}"

    Bastion(app)
    get_state(app).component("content").clock = lambda: NOW
    OPEN_APPS.append(app)
    return app


def test_link_of_one_tenant_does_not_open_another_tenants_file() -> None:
    """With subdomain matching, a link made for a.files.example is signed for that host:
    replayed on b.files.example (same path, another tenant's file 7) it is refused."""
    app = tenant_app()
    with app.app_context():
        url = signed_url("download", tenant="a", file_id=7, _external=True, _scheme="https")
    assert url.startswith("https://a.files.example/files/7?")
    client = app.test_client()
    assert client.get(url, headers=SAME_ORIGIN).text == "a file 7"
    other = url.replace("://a.", "://b.")
    assert client.get(other, headers=SAME_ORIGIN).status_code == 403


def test_rejected_signature_reason_is_kept_for_real_forgeries(
    app: Flask, client: FlaskClient
) -> None:
    """A well-formed signature that does not match is still REASON_BAD_SIGNATURE (the
    format check does not hide forgeries from monitoring)."""
    url = make(app, file_id=7)
    sent: list[str] = []
    with signals.signed_url_rejected.connected_to(
        lambda sender, **kw: sent.append(kw["reason"]), app
    ):
        assert get(client, edit(url, signature="A" * 43)).status_code == 403
    assert sent == [REASON_BAD_SIGNATURE]


# -- hotlinking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("referer", "origin"),
    [
        ("https://evil.example\\@partner.example/", "https://evil.example"),
        ("https://partner.example@evil.example/", "https://evil.example"),
        ("https://partner.example./", "https://partner.example."),
    ],
    ids=["backslash-userinfo", "userinfo", "trailing-dot"],
)
def test_referer_host_is_read_as_browsers_read_it(referer: str, origin: str) -> None:
    """A backslash ends the host of an http(s) URL, as in the URL standard: a partner's name
    after it is path, not host."""
    assert origin_of(referer) == origin


def test_backslash_referer_is_not_taken_for_a_partner(tmp_path: Path) -> None:
    """``https://evil.example\\@partner.example/`` does not pass as the partner's page."""
    app = content_app(tmp_path, bastion={"content_hotlink_allow": ["https://partner.example"]})
    client = app.test_client()
    referer = "https://evil.example\\@partner.example/"
    assert get_media(client, "/static/logo.png", Referer=referer).status_code == 403


@pytest.mark.parametrize(
    ("dest", "mode"),
    [
        ("iframe", "navigate"),
        ("frame", "navigate"),
        ("object", "no-cors"),
        ("embed", "no-cors"),
        ("empty", "no-cors"),
    ],
    ids=["iframe", "frame", "object", "embed", "service-worker-no-cors-fetch"],
)
def test_frames_plugins_and_no_cors_fetches_of_media_are_refused(
    tmp_path: Path, dest: str, mode: str
) -> None:
    """Another site showing our image in a frame or plugin, or its service worker fetching
    it no-cors to answer the page's ``<img>``, is hotlinking: refused for media files and
    marked views; the same requests for a stylesheet still pass."""
    client = content_app(tmp_path).test_client()
    headers = {**IMAGE, "Sec-Fetch-Dest": dest, "Sec-Fetch-Mode": mode}
    assert get_media(client, "/static/logo.png", **headers).status_code == 403
    assert get_media(client, "/media/1", **headers).status_code == 403
    assert get_media(client, "/static/site.css", **headers).status_code == 200


def test_cors_fetch_of_media_passes(tmp_path: Path) -> None:
    """A CORS fetch (which cannot read the bytes without CORS headers) is not refused."""
    client = content_app(tmp_path).test_client()
    headers = {**IMAGE, "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}
    assert get_media(client, "/static/logo.png", **headers).status_code == 200


def test_partner_copy_is_not_served_from_a_shared_cache_to_others(tmp_path: Path) -> None:
    """The partner's copy (Cross-Origin-Resource-Policy: cross-origin) says Vary: Referer,
    so a cache in front cannot hand it to a hotlinking page's request; our own copy keeps
    same-origin and needs no Vary on Referer."""
    app = content_app(tmp_path, bastion={"content_hotlink_allow": ["https://partner.example"]})
    client = app.test_client()
    partner = get_media(
        client, "/static/logo.png", **{**IMAGE, "Referer": "https://partner.example/a"}
    )
    assert partner.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "Referer" in [v.strip() for v in ",".join(partner.headers.getlist("Vary")).split(",")]
    own = get_media(client, "/static/logo.png", **{**IMAGE, "Sec-Fetch-Site": "same-origin"})
    assert own.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "Referer" not in own.headers.get("Vary", "")


@pytest.mark.parametrize(
    "entry",
    ["https://*.example", "https://*.example:8443", "https://*.co.uk", "https://*.github.io"],
    ids=["tld", "tld-with-port", "icann-suffix", "private-suffix"],
)
def test_wildcard_over_a_public_suffix_is_refused(tmp_path: Path, entry: str) -> None:
    """``https://*.co.uk`` in the partner list would let every site anyone registers
    under ``co.uk`` (or publishes under ``github.io``) embed the files: the application
    does not start with it."""
    with pytest.raises(ConfigurationError) as info:
        content_app(tmp_path, bastion={"content_hotlink_allow": [entry]})
    assert info.value.key == "BASTION_CONTENT_HOTLINK_ALLOW"
    assert "public suffix" in info.value.message


def test_wildcard_under_a_public_suffix_admits_only_its_subdomains(tmp_path: Path) -> None:
    """``https://*.partner.co.uk`` lets the partner's subdomains embed, not a stranger's
    site elsewhere under ``co.uk``."""
    allow = ["https://*.partner.co.uk"]
    client = content_app(tmp_path, bastion={"content_hotlink_allow": allow}).test_client()
    partner = {**IMAGE, "Referer": "https://cdn.partner.co.uk/page"}
    stranger = {**IMAGE, "Referer": "https://evil.co.uk/page"}
    assert get_media(client, "/static/logo.png", **partner).status_code == 200
    assert get_media(client, "/static/logo.png", **stranger).status_code == 403


def test_repeated_fetch_site_headers_fail_closed(tmp_path: Path) -> None:
    """``Sec-Fetch-Site`` sent twice (joined to ``same-origin, cross-site``) is no
    same-origin request."""
    client = content_app(tmp_path).test_client()
    environ = {"HTTP_SEC_FETCH_SITE": "same-origin, cross-site", "HTTP_SEC_FETCH_DEST": "image"}
    response = client.get("/static/logo.png", base_url="https://localhost", environ_base=environ)
    assert response.status_code == 403


# -- page budgets ---------------------------------------------------------------------------------


def test_one_token_from_many_addresses_meets_the_user_budget() -> None:
    """A script holding one personal API token and a fresh address for every page meets
    the per-user page budget: the token is counted wherever it comes from."""
    app, clock = limited_app()
    client = app.test_client()
    codes = []
    for n in range(4):
        clock.now += 10  # never a burst
        bearer = {"HTTP_AUTHORIZATION": "Bearer scraper-token"}
        codes.append(
            hit(client, "/list", ip=f"198.51.100.{n + 1}", environ_base=bearer).status_code
        )
    assert codes == [200, 200, 200, 429]
    other = {"HTTP_AUTHORIZATION": "bearer another-token"}
    assert hit(client, "/list", ip="198.51.100.9", environ_base=other).status_code == 200


@pytest.mark.parametrize(
    "variant",
    ["/list?page=2", "/list?PAGE=3&sort=x", "/list?"],
    ids=["page-param", "other-params", "empty-query"],
)
def test_query_strings_do_not_open_fresh_budgets(variant: str) -> None:
    """Budgets are counted per view, not per URL: varying the query (pagination, sort,
    junk) or switching to HEAD spends the same budget."""
    app, clock = limited_app()
    client = app.test_client()
    clock.now += 10
    assert hit(client, "/list").status_code == 200
    assert hit(client, variant, method="HEAD").status_code == 200
    assert hit(client, variant).status_code == 429  # burst: 2 per 10 seconds


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"},
        {"Referer": "https://evil.example/page"},
    ],
    ids=["fetch-metadata", "old-browser-referer"],
)
def test_another_site_cannot_get_its_visitors_reported_as_scrapers(
    headers: dict[str, str],
) -> None:
    """A page full of ``<img src=".../list">`` makes each visitor's browser burst through
    the budget: refused with 429 as usual, but no scraping_suspected (which bans act on)."""
    app, _clock = limited_app()
    seen: list[dict[str, t.Any]] = []
    with signals.scraping_suspected.connected_to(lambda sender, **kw: seen.append(kw), app):
        client = app.test_client()
        client.environ_base.pop("HTTP_SEC_FETCH_SITE")  # an older browser sends none
        codes = [hit(client, "/list", headers=headers).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert seen == []
        own = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "empty"}
        codes = [hit(client, "/list", ip="192.0.2.99", headers=own).status_code for _ in "abc"]
        assert codes == [200, 200, 429]
    assert [kw["ip"] for kw in seen] == ["192.0.2.99"]
