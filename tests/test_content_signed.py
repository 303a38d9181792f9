"""Signed, expiring URLs (flask_bastion.content.signed): a link dies when it expires, for
another user, and when any part of it changes."""

from __future__ import annotations

import datetime
import typing as t
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from flask import Blueprint, Flask, session
from flask.testing import FlaskClient
from itsdangerous import Signer

from flask_bastion import Bastion, get_state, signals, signed_url, signed_url_required
from flask_bastion.content import (
    REASON_BAD_SIGNATURE,
    REASON_EXPIRED,
    REASON_MALFORMED,
    verify_signed_url,
)
from flask_bastion.exceptions import ConfigurationError, SignedURLInvalid

from .conftest import HTTPS, OPEN_APPS, SECRET

#: The injected clock's time: every test runs at this Unix second.
NOW = 1_800_000_000
OLD_KEY = "9c1d" * 16
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def signed_app(**config: t.Any) -> Flask:
    """An app with a signed download view, a signed blueprint, a page and a sign-in route,
    on a clock fixed at :data:`NOW`."""
    app = Flask(__name__)
    defaults = {
        "SECRET_KEY": SECRET,
        "TRUSTED_HOSTS": ["localhost"],
        "BASTION_SESSIONS_STORE": "memory",
    }
    app.config.update({**defaults, **config})
    calls: list[int] = []

    @app.get("/files/<int:file_id>")
    @signed_url_required
    def download(file_id: int) -> str:
        calls.append(file_id)
        return f"file {file_id}"

    @app.get("/page")
    def page() -> str:
        return "page"

    @app.post("/sign-in/<user_id>")
    def sign_in(user_id: str) -> str:
        session["_user_id"] = user_id
        return "signed in"

    shared = signed_url_required(Blueprint("shared", __name__, url_prefix="/shared"))
    shared.add_url_rule("/<path:name>", "get", lambda name: f"shared {name}")
    app.register_blueprint(shared)
    Bastion(app)
    get_state(app).component("content").clock = lambda: NOW
    app.extensions["test.calls"] = calls
    OPEN_APPS.append(app)
    return app


@pytest.fixture
def app() -> Flask:
    return signed_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def rejected(app: Flask) -> Iterator[list[dict[str, t.Any]]]:
    """The keywords of every signed_url_rejected signal the app sends."""
    sent: list[dict[str, t.Any]] = []

    def record(sender: Flask, **extra: t.Any) -> None:
        sent.append(extra)

    with signals.signed_url_rejected.connected_to(record, app):
        yield sent


def make(app: Flask, endpoint: str = "download", **values: t.Any) -> str:
    """A signed URL made inside a request to the app, over HTTPS."""
    with app.test_request_context(base_url=HTTPS):
        return signed_url(endpoint, **values)


def get(client: FlaskClient, url: str, **headers: str) -> t.Any:
    return client.get(url, base_url=HTTPS, headers={**SAME_ORIGIN, **headers})


def edit(url: str, **changes: str | None) -> str:
    """``url`` with query parameters replaced (``None`` removes one)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return parts._replace(query=urlencode(query)).geturl()


# -- a valid link ---------------------------------------------------------------------------------


def test_signed_url_opens_the_view(app: Flask, client: FlaskClient) -> None:
    """A fresh signed URL reaches the view."""
    url = make(app, file_id=7)
    assert url.startswith("/files/7?expires=")
    response = get(client, url)
    assert (response.status_code, response.text) == (200, "file 7")


def test_default_lifetime_comes_from_the_setting() -> None:
    """Without expires_in the link lives BASTION_CONTENT_SIGNED_URL_EXPIRES seconds."""
    app = signed_app(BASTION_CONTENT_SIGNED_URL_EXPIRES=60)
    query = dict(parse_qsl(urlsplit(make(app, file_id=1)).query))
    assert query["expires"] == str(NOW + 60)


def test_query_values_path_values_and_anchor_are_kept(app: Flask, client: FlaskClient) -> None:
    """Extra values become signed query values; unicode paths and anchors work."""
    url = make(app, "shared.get", name="dossier/été 1.pdf", v="a b&c", _anchor="top")
    assert url.endswith("#top")
    response = get(client, url.partition("#")[0])
    assert (response.status_code, response.text) == (200, "shared dossier/été 1.pdf")


def test_external_url(app: Flask, client: FlaskClient) -> None:
    """_external=True gives an absolute URL that verifies."""
    url = make(app, file_id=3, _external=True)
    assert url.startswith("https://localhost/files/3?")
    assert get(client, url).status_code == 200


def test_template_global(app: Flask) -> None:
    """Templates can make signed links with signed_url()."""
    with app.test_request_context(base_url=HTTPS):
        html = app.jinja_env.from_string("{{ signed_url('download', file_id=2) }}").render()
    assert html.startswith("/files/2?expires=")


def test_application_root_is_part_of_the_signed_path() -> None:
    """Under a script root the link verifies where it was made, and a link made for the
    root path does not verify under another mount."""
    app = signed_app()
    with app.test_request_context("/", base_url="https://localhost/vault/"):
        url = signed_url("download", file_id=1)
    assert url.startswith("/vault/files/1?")
    client = app.test_client()
    path = url[len("/vault") :]
    mounted = client.get(path, base_url="https://localhost/vault/", headers=SAME_ORIGIN)
    assert mounted.status_code == 200
    assert get(client, path).status_code == 403


def test_responses_are_private_and_noindex(app: Flask, client: FlaskClient) -> None:
    """No shared cache keeps a signed response past the link's life; no index lists it."""
    response = get(client, make(app, file_id=1))
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "Cookie" in response.headers["Vary"]
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"


# -- expiry ---------------------------------------------------------------------------------------


def test_link_dies_at_expiry(
    app: Flask, client: FlaskClient, rejected: list[dict[str, t.Any]]
) -> None:
    """At expires (and after) the link is refused; one second before, it works."""
    url = make(app, file_id=1, expires_in=600)
    component = get_state(app).component("content")
    component.clock = lambda: NOW + 599
    assert get(client, url).status_code == 200
    component.clock = lambda: NOW + 600
    assert get(client, url).status_code == 403
    assert rejected == [{"reason": REASON_EXPIRED, "status": 403, "endpoint": "download"}]


def test_timedelta_lifetime(app: Flask) -> None:
    """expires_in takes a timedelta."""
    url = make(app, file_id=1, expires_in=datetime.timedelta(minutes=5))
    assert dict(parse_qsl(urlsplit(url).query))["expires"] == str(NOW + 300)


def test_now_parameters_are_clock_seams(app: Flask) -> None:
    """signed_url(now=) and verify_signed_url(now=) use the given time."""
    url = make(app, file_id=1, expires_in=10, now=NOW - 100)
    with app.test_request_context(url, base_url=HTTPS):
        from flask import request

        verify_signed_url(request, now=NOW - 95)
        with pytest.raises(SignedURLInvalid):
            verify_signed_url(request)


# -- tampering ------------------------------------------------------------------------------------


def _tampered(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    signature = query["signature"]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {
        "other-path-value": url.replace("/files/7?", "/files/8?"),
        "later-expiry": edit(url, expires=str(int(query["expires"]) + 3600)),
        "signature-changed": edit(url, signature=flipped),
        "signature-truncated": edit(url, signature=signature[:-2]),
        "query-added": edit(url, download="1"),
        "bound-added": edit(url, bound="1"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "other-path-value",
        "later-expiry",
        "signature-changed",
        "signature-truncated",
        "query-added",
        "bound-added",
    ],
)
def test_tampering_any_part_fails(
    app: Flask, client: FlaskClient, rejected: list[dict[str, t.Any]], case: str
) -> None:
    """Changing the path, the expiry, the signature or the query is refused before the view."""
    response = get(client, _tampered(make(app, file_id=7))[case])
    assert response.status_code == 403
    truncated = case == "signature-truncated"  # no longer a signature's length
    assert rejected[0]["reason"] == (REASON_MALFORMED if truncated else REASON_BAD_SIGNATURE)
    assert app.extensions["test.calls"] == []


def test_removing_a_signed_query_value_fails(app: Flask, client: FlaskClient) -> None:
    """Query values are signed: dropping one breaks the signature."""
    url = make(app, "shared.get", name="a.pdf", v="2")
    assert get(client, edit(url, v=None)).status_code == 403
    assert get(client, edit(url, v="3")).status_code == 403


@pytest.mark.parametrize(
    "changes",
    [
        {"signature": None},
        {"expires": None},
        {"expires": "soon"},
        {"expires": "1" * 13},
        {"expires": "-5"},
        {"bound": "2"},
        {"signature": "é\x00"},
    ],
    ids=[
        "no-signature",
        "no-expiry",
        "expiry-not-a-number",
        "expiry-too-long",
        "expiry-negative",
        "bound-not-1",
        "signature-not-ascii",
    ],
)
def test_malformed_links_are_one_clean_403(
    app: Flask,
    client: FlaskClient,
    rejected: list[dict[str, t.Any]],
    changes: dict[str, str | None],
) -> None:
    """Missing or malformed parts are refused with 403, never a 500."""
    response = get(client, edit(make(app, file_id=7), **changes))
    assert response.status_code == 403
    assert rejected[0]["reason"] in (REASON_MALFORMED, REASON_BAD_SIGNATURE)


def test_repeated_parameters_are_malformed(app: Flask, client: FlaskClient) -> None:
    """A second expires or signature is refused rather than one of them picked."""
    url = make(app, file_id=7)
    assert get(client, url + "&expires=1").status_code == 403
    assert get(client, url + "&signature=x").status_code == 403


def test_unsigned_request_is_refused(client: FlaskClient, rejected: list[dict[str, t.Any]]) -> None:
    """The bare path of a signed view is refused."""
    assert get(client, "/files/7").status_code == 403
    assert rejected[0]["reason"] == REASON_MALFORMED


def test_every_failure_looks_the_same(app: Flask, client: FlaskClient) -> None:
    """Expired, tampered, malformed and wrong-user links get the same status and text:
    the response is no oracle."""
    url = make(app, file_id=7, expires_in=60)
    bound = make(app, file_id=7, user="1")
    expired = signed_app()
    get_state(expired).component("content").clock = lambda: NOW + 61
    cases = [
        (client, edit(url, signature=None)),
        (client, url.replace("/files/7?", "/files/8?")),
        (client, bound),
        (expired.test_client(), url),
    ]
    answers = set()
    for who, link in cases:
        response = get(who, link, Accept="application/json")
        answers.add((response.status_code, response.json["title"], response.json["detail"]))
    assert answers == {(403, "Forbidden", SignedURLInvalid.PAGE_TEXT)}


# -- users ----------------------------------------------------------------------------------------


def test_bound_link_opens_for_its_user_only(app: Flask) -> None:
    """A link made for user 1 works for user 1, not for user 2 or an anonymous visitor."""
    url = make(app, file_id=7, user="1")
    assert "bound=1" in url
    owner, other, anonymous = app.test_client(), app.test_client(), app.test_client()
    owner.post("/sign-in/1", base_url=HTTPS, headers=SAME_ORIGIN)
    other.post("/sign-in/2", base_url=HTTPS, headers=SAME_ORIGIN)
    assert get(owner, url).status_code == 200
    assert get(other, url).status_code == 403
    assert get(anonymous, url).status_code == 403


def test_unbinding_a_bound_link_fails(app: Flask) -> None:
    """Dropping bound=1 does not make a user's link anyone's."""
    url = make(app, file_id=7, user="1")
    other = app.test_client()
    other.post("/sign-in/2", base_url=HTTPS, headers=SAME_ORIGIN)
    assert get(other, edit(url, bound=None)).status_code == 403


def test_user_object_is_bound_by_get_id(app: Flask) -> None:
    """``user`` takes an object with get_id(), as Flask-Login and Bastion users have."""

    class User:
        def get_id(self) -> str:
            return "42"

    assert make(app, file_id=1, user=User()) == make(app, file_id=1, user=42)


@pytest.mark.parametrize("user", [None, "", True])
def test_anonymous_user_cannot_be_bound(app: Flask, user: object) -> None:
    """An anonymous user (get_id() is None) or a non-ID is refused when signing."""

    class Anonymous:
        def get_id(self) -> object:
            return user

    with pytest.raises(ValueError, match="anonymous"):
        make(app, file_id=1, user=Anonymous())


# -- keys -----------------------------------------------------------------------------------------


def test_links_survive_rotation_through_fallbacks() -> None:
    """A link signed under the previous key verifies while it is in SECRET_KEY_FALLBACKS,
    and dies when it leaves."""
    url = make(signed_app(SECRET_KEY=OLD_KEY), file_id=1)
    rotated = signed_app(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[OLD_KEY])
    assert get(rotated.test_client(), url).status_code == 200
    assert make(rotated, file_id=1) != url  # new links use the new key
    assert get(signed_app(SECRET_KEY=SECRET).test_client(), url).status_code == 403


def test_key_is_derived_for_this_purpose(app: Flask, client: FlaskClient) -> None:
    """A signature made with SECRET_KEY for another purpose (itsdangerous's default salt)
    over the same message is not a URL signature."""
    url = make(app, file_id=7)
    query = dict(parse_qsl(urlsplit(url).query))
    message = f'["v1","/files/7",[],{query["expires"]},null]'.encode()
    foreign = Signer(SECRET, key_derivation="hmac", digest_method=__import__("hashlib").sha256)
    assert (
        get(client, edit(url, signature=foreign.get_signature(message).decode())).status_code == 403
    )
    assert query["signature"] != foreign.get_signature(message).decode()


def test_missing_secret_key_is_a_configuration_error(app: Flask) -> None:
    """Signing without SECRET_KEY names the setting."""
    app.config["SECRET_KEY"] = None
    with pytest.raises(ConfigurationError) as info:
        make(app, file_id=1)
    assert info.value.key == "SECRET_KEY"


# -- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize("expires_in", [0, -1, 365 * 86_400 + 1, True, datetime.timedelta(0)])
def test_lifetime_is_bounded(app: Flask, expires_in: object) -> None:
    """expires_in is 1 second to a year."""
    with pytest.raises(ValueError, match="expires_in"):
        make(app, file_id=1, expires_in=expires_in)


@pytest.mark.parametrize("name", ["expires", "bound", "signature"])
def test_reserved_names_are_refused(app: Flask, name: str) -> None:
    """A view value cannot collide with the signature's parameters."""
    with pytest.raises(TypeError, match="reserved"):
        make(app, file_id=1, **{name: "x"})


def test_unsigned_views_are_not_checked(client: FlaskClient) -> None:
    """Views without the mark ignore signature parameters."""
    assert get(client, "/page?signature=x&expires=y").status_code == 200
