"""Hotlink protection and X-Robots-Tag on private areas (flask_bastion.content)."""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Blueprint, Flask, Request, session
from flask.testing import FlaskClient

from flask_bastion import Bastion, hotlink_protected, noindex, signals
from flask_bastion.components import Stage
from flask_bastion.content import REASON_CROSS_SITE, REASON_FOREIGN_REFERER
from flask_bastion.context import RequestState
from flask_bastion.exceptions import ConfigurationError

from .conftest import HTTPS, OPEN_APPS, SECRET

PARTNER = "https://partner.example"
EVIL = "https://evil.example"
IMAGE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image", "Referer": EVIL + "/page"}
PNG = b"\x89PNG\r\n\x1a\n"


def content_app(folder: Path, *, bastion: dict[str, t.Any] | None = None, **config: t.Any) -> Flask:
    """An app whose static folder holds logo.png, site.css and clip.mp4, with a media
    view, a plain page, a blueprint with its own static files and a sign-in route."""
    for name in ("logo.png", "site.css", "clip.mp4"):
        (folder / name).write_bytes(PNG)
    app = Flask(__name__, static_folder=str(folder), static_url_path="/static")
    defaults = {
        "SECRET_KEY": SECRET,
        "TRUSTED_HOSTS": ["localhost"],
        "BASTION_SESSIONS_STORE": "memory",
    }
    app.config.update({**defaults, **config})

    @app.get("/page")
    def page() -> str:
        return "page"

    @app.get("/media/<int:media_id>")
    @hotlink_protected
    def media(media_id: int) -> tuple[bytes, int, dict[str, str]]:
        return PNG, 200, {"Content-Type": "image/png"}

    @app.get("/robots-own")
    @noindex
    def robots_own() -> tuple[str, int, dict[str, str]]:
        return "own", 200, {"X-Robots-Tag": "noarchive"}

    @app.post("/sign-in/<user_id>")
    def sign_in(user_id: str) -> str:
        session["_user_id"] = user_id
        return "signed in"

    theme = Blueprint("theme", __name__, static_folder=str(folder), static_url_path="/theme")
    app.register_blueprint(theme)
    gallery = hotlink_protected(Blueprint("gallery", __name__))
    gallery.add_url_rule("/gallery/<name>", "show", lambda name: PNG)
    app.register_blueprint(gallery)
    admin = noindex(Blueprint("admin", __name__, url_prefix="/admin"))
    admin.add_url_rule("/", "home", lambda: "admin")
    app.register_blueprint(admin)
    app.add_url_rule("/admin-lookalike", "admin.lookalike", lambda: "not admin")
    Bastion(app, **(bastion or {}))
    OPEN_APPS.append(app)
    return app


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return content_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def refused(app: Flask) -> Iterator[list[dict[str, t.Any]]]:
    """The keywords of every hotlink_refused signal the app sends."""
    sent: list[dict[str, t.Any]] = []

    def record(sender: Flask, **extra: t.Any) -> None:
        sent.append(extra)

    with signals.hotlink_refused.connected_to(record, app):
        yield sent


def get(client: FlaskClient, path: str, **headers: str) -> t.Any:
    """GET ``path`` over HTTPS, the body read and the file of a static response closed."""
    response = client.get(path, base_url=HTTPS, headers=headers)
    response.get_data()
    response.close()
    return response


# -- hotlink protection: Fetch Metadata ---------------------------------------------------------


@pytest.mark.parametrize("dest", ["image", "video", "audio", "font", "track"])
def test_cross_site_media_is_refused(
    client: FlaskClient, refused: list[dict[str, t.Any]], dest: str
) -> None:
    """Another site's page embedding a static file as media gets 403 and a signal."""
    response = get(client, "/static/logo.png", **{**IMAGE, "Sec-Fetch-Dest": dest})
    assert response.status_code == 403
    assert refused == [
        {"reason": REASON_CROSS_SITE, "status": 403, "endpoint": "static", "origin": EVIL}
    ]


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_own_pages_and_direct_use_pass(client: FlaskClient, site: str) -> None:
    """The application's own pages and a typed URL load the file."""
    response = get(client, "/static/logo.png", **{**IMAGE, "Sec-Fetch-Site": site})
    assert response.status_code == 200
    assert response.data == PNG


@pytest.mark.parametrize("site", ["same-site", "cross-site", "unknown-value"])
def test_same_site_and_unknown_values_are_foreign(client: FlaskClient, site: str) -> None:
    """A sibling subdomain is refused like any other site, and so is a value no browser
    sends (fail closed)."""
    response = get(client, "/static/logo.png", **{**IMAGE, "Sec-Fetch-Site": site})
    assert response.status_code == 403


@pytest.mark.parametrize("dest", ["document", "script", "style", "empty"])
def test_navigation_scripts_styles_and_fetch_pass(client: FlaskClient, dest: str) -> None:
    """Following another site's link to a file, or non-media requests, are not hotlinking."""
    response = get(client, "/static/logo.png", **{**IMAGE, "Sec-Fetch-Dest": dest})
    assert response.status_code == 200


def test_unprotected_endpoint_is_not_checked(client: FlaskClient) -> None:
    """Only static endpoints and marked views are protected."""
    assert get(client, "/page", **IMAGE).status_code == 200


def test_refusal_is_logged_with_origin_only(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """One info line with event, reason and the embedding origin, never its path."""
    with caplog.at_level(logging.INFO, logger="flask_bastion.security"):
        get(client, "/static/logo.png", **{**IMAGE, "Referer": EVIL + "/secret?token=abc"})
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "content.hotlink_refused"]
    assert record.levelno == logging.INFO
    assert (record.reason, record.origin, record.status) == (REASON_CROSS_SITE, EVIL, 403)  # type: ignore[attr-defined]
    assert "token" not in record.getMessage() and "secret" not in str(record.__dict__)


def test_refusal_is_a_problem_document_for_json_clients(client: FlaskClient) -> None:
    """The 403 goes through the safe error pages: RFC 9457 JSON when asked for."""
    response = get(client, "/static/logo.png", **IMAGE, Accept="application/json")
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.json["detail"] == REASON_CROSS_SITE


# -- hotlink protection: without Fetch Metadata ---------------------------------------------------


def test_foreign_referer_for_media_file_is_refused(
    client: FlaskClient, refused: list[dict[str, t.Any]]
) -> None:
    """An older browser's image request from another site's page is refused by Referer."""
    response = get(client, "/static/logo.png", Referer=EVIL + "/page")
    assert response.status_code == 403
    assert refused[0]["reason"] == REASON_FOREIGN_REFERER


@pytest.mark.parametrize("path", ["/static/site.css", "/static/missing.txt"])
def test_foreign_referer_for_other_files_passes(client: FlaskClient, path: str) -> None:
    """Without Sec-Fetch-Dest, only media file extensions count as media."""
    assert get(client, path, Referer=EVIL + "/page").status_code in (200, 404)


@pytest.mark.parametrize(
    "referer",
    ["https://localhost/page", "https://LOCALHOST:443/page", "https://localhost"],
    ids=["same-origin", "default-port-and-case", "origin-only"],
)
def test_own_referer_passes(client: FlaskClient, referer: str) -> None:
    """The application's own origin, normalised, is not foreign."""
    assert get(client, "/static/logo.png", Referer=referer).status_code == 200


@pytest.mark.parametrize(
    "referer",
    ["http://localhost/page", "https://localhost:8443/page", "android-app://x", "null"],
    ids=["other-scheme", "other-port", "not-http", "null"],
)
def test_other_origins_and_odd_referers_are_foreign(client: FlaskClient, referer: str) -> None:
    """Scheme and port are part of the origin; a Referer that is no http(s) URL is
    foreign (fail closed), never a 500."""
    assert get(client, "/static/clip.mp4", Referer=referer).status_code == 403


def test_no_fetch_metadata_and_no_referer_passes(client: FlaskClient) -> None:
    """A download tool or a no-referrer page gets the file."""
    assert get(client, "/static/logo.png").status_code == 200


def test_forged_forwarded_host_does_not_make_a_referer_own(client: FlaskClient) -> None:
    """Without proxy trust, X-Forwarded-Host does not change the request's own origin."""
    response = get(client, "/static/logo.png", Referer=EVIL, **{"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 403


def test_trusted_proxy_host_is_the_own_origin(tmp_path: Path) -> None:
    """Behind a trusted proxy, the host it forwards is the origin a Referer is compared to."""
    app = content_app(
        tmp_path, bastion={"proxy_trusted_hops": 1}, TRUSTED_HOSTS=["app.example", "localhost"]
    )
    headers = {"X-Forwarded-Host": "app.example", "X-Forwarded-Proto": "https"}
    client = app.test_client()
    own = get(client, "/static/logo.png", **headers, Referer="https://app.example/p")
    assert own.status_code == 200
    foreign = get(client, "/static/logo.png", **headers, Referer="https://localhost/")
    assert foreign.status_code == 403


# -- protected endpoints --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/media/7", "/gallery/seven"], ids=["view", "blueprint"])
def test_marked_views_are_media_whatever_the_path(client: FlaskClient, path: str) -> None:
    """@hotlink_protected views and blueprints are refused by Fetch Metadata and, without
    it, by a foreign Referer even without a file extension."""
    assert get(client, path, **IMAGE).status_code == 403
    assert get(client, path, Referer=EVIL).status_code == 403
    assert get(client, path, **{**IMAGE, "Sec-Fetch-Site": "same-origin"}).status_code == 200


def test_blueprint_static_files_are_protected(client: FlaskClient) -> None:
    """'*.static' covers every blueprint's static files by default."""
    assert get(client, "/theme/logo.png", **IMAGE).status_code == 403


def test_endpoints_setting_chooses_the_protected_endpoints(tmp_path: Path) -> None:
    """BASTION_CONTENT_HOTLINK_ENDPOINTS replaces the default list; marked views stay."""
    client = content_app(tmp_path, BASTION_CONTENT_HOTLINK_ENDPOINTS=["page"]).test_client()
    assert get(client, "/static/logo.png", **IMAGE).status_code == 200
    assert get(client, "/page", **IMAGE).status_code == 403
    assert get(client, "/media/1", **IMAGE).status_code == 403


def test_protection_off_serves_everyone(tmp_path: Path) -> None:
    """BASTION_CONTENT_HOTLINK_PROTECTION=False turns the check off."""
    client = content_app(tmp_path, bastion={"content_hotlink_protection": False}).test_client()
    assert get(client, "/static/logo.png", **IMAGE).status_code == 200


def test_two_apps_keep_their_own_settings(tmp_path: Path) -> None:
    """Each application has its own component and endpoint decisions."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    strict = content_app(tmp_path / "a").test_client()
    loose = content_app(tmp_path / "b", bastion={"content_hotlink_allow": [EVIL]}).test_client()
    assert get(strict, "/static/logo.png", **IMAGE).status_code == 403
    assert get(loose, "/static/logo.png", **IMAGE).status_code == 200


# -- partners -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allow", "referer"),
    [
        ([PARTNER], PARTNER + "/article"),
        ([PARTNER], "https://PARTNER.example:443/"),
        (["https://*.partner.example"], "https://cdn.partner.example/x"),
    ],
    ids=["exact", "normalised", "wildcard-label"],
)
def test_partner_may_embed_and_gets_cross_origin_resource_policy(
    tmp_path: Path, allow: list[str], referer: str
) -> None:
    """A partner page's request passes, and its response lets the browser show it."""
    client = content_app(tmp_path, bastion={"content_hotlink_allow": allow}).test_client()
    response = get(client, "/static/logo.png", **{**IMAGE, "Referer": referer})
    assert response.status_code == 200
    assert response.headers.getlist("Cross-Origin-Resource-Policy") == ["cross-origin"]


def test_partner_is_recognised_without_fetch_metadata(tmp_path: Path) -> None:
    """The allowlist applies to the Referer fallback as well."""
    client = content_app(tmp_path, bastion={"content_hotlink_allow": [PARTNER]}).test_client()
    response = get(client, "/static/logo.png", Referer=PARTNER + "/a")
    assert response.status_code == 200
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


@pytest.mark.parametrize(
    "referer",
    [
        None,
        "https://partner.example.evil.example/",
        "https://a.b.partner.example/",
        "http://partner.example/",
    ],
    ids=["no-referer", "suffix-trick", "two-labels", "plain-http"],
)
def test_non_partners_stay_refused(tmp_path: Path, referer: str | None) -> None:
    """Only an exact partner origin (or one label under a wildcard) passes; a partner
    page that sends no Referer cannot be told apart from any other site."""
    allow = [PARTNER, "https://*.partner.example"]
    client = content_app(tmp_path, bastion={"content_hotlink_allow": allow}).test_client()
    headers = {k: v for k, v in IMAGE.items() if k != "Referer"}
    if referer is not None:
        headers["Referer"] = referer
    response = get(client, "/static/logo.png", **headers)
    assert response.status_code == 403
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_own_responses_keep_same_origin_resource_policy(client: FlaskClient) -> None:
    """Only partner responses are widened; the application's own keep the default."""
    response = get(client, "/static/logo.png", **{**IMAGE, "Sec-Fetch-Site": "same-origin"})
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"


# -- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("BASTION_CONTENT_HOTLINK_ALLOW", ["partner.example"]),
        ("BASTION_CONTENT_HOTLINK_ALLOW", ["https://partner.example/path"]),
        ("BASTION_CONTENT_HOTLINK_ENDPOINTS", ["static/x"]),
        ("BASTION_CONTENT_NOINDEX_PATHS", ["/admin/"]),
        ("BASTION_CONTENT_NOINDEX_PATHS", ["admin"]),
        ("BASTION_CONTENT_ROBOTS_TAG", "noindex\r\nSet-Cookie: a=b"),
        ("BASTION_CONTENT_ROBOTS_TAG", ""),
        ("BASTION_CONTENT_SIGNED_URL_EXPIRES", 0),
        ("BASTION_CONTENT_SIGNED_URL_EXPIRES", 366 * 86_400),
    ],
    ids=[
        "allow-no-scheme",
        "allow-path",
        "endpoint-slash",
        "path-trailing-slash",
        "path-relative",
        "robots-line-break",
        "robots-empty",
        "expires-zero",
        "expires-over-a-year",
    ],
)
def test_invalid_settings_are_refused(tmp_path: Path, key: str, value: object) -> None:
    """A bad value fails init_app, naming the key."""
    with pytest.raises(ConfigurationError) as info:
        content_app(tmp_path, **{key: value})
    assert info.value.key == key


# -- X-Robots-Tag ---------------------------------------------------------------------------------


def test_anonymous_public_page_is_indexable(client: FlaskClient) -> None:
    """A public page for an anonymous visitor has no X-Robots-Tag."""
    assert "X-Robots-Tag" not in get(client, "/page").headers


def test_signed_in_user_responses_are_noindex(client: FlaskClient) -> None:
    """Every response to a signed-in user's request says noindex, nofollow."""
    client.post("/sign-in/1", base_url=HTTPS, headers={"Sec-Fetch-Site": "same-origin"})
    for path in ("/page", "/static/site.css", "/missing"):
        assert get(client, path).headers.getlist("X-Robots-Tag") == ["noindex, nofollow"]


@pytest.mark.parametrize("path", ["/admin/", "/media/1"], ids=["blueprint", "view"])
def test_marked_private_views_are_noindex(tmp_path: Path, path: str) -> None:
    """@noindex on a blueprint covers its routes; signed views are covered (test_content_signed)."""
    app = content_app(tmp_path)
    noindex(app.view_functions["media"])
    response = get(app.test_client(), path)
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"


def test_blueprint_mark_does_not_leak_to_lookalike_endpoints(client: FlaskClient) -> None:
    """An app route named like the blueprint is not part of it."""
    assert "X-Robots-Tag" not in get(client, "/admin-lookalike").headers


def test_views_own_robots_tag_wins(client: FlaskClient) -> None:
    """setdefault: a value the view chose is kept, and not repeated."""
    client.post("/sign-in/1", base_url=HTTPS, headers={"Sec-Fetch-Site": "same-origin"})
    assert get(client, "/robots-own").headers.getlist("X-Robots-Tag") == ["noarchive"]


@pytest.mark.parametrize(
    ("path", "private"),
    [("/admin", True), ("/admin/", True), ("/admin/users", True), ("/administrator", False)],
)
def test_noindex_paths_cover_the_prefix_and_below(tmp_path: Path, path: str, private: bool) -> None:
    """BASTION_CONTENT_NOINDEX_PATHS matches whole path segments, even for a 404."""
    client = content_app(tmp_path, BASTION_CONTENT_NOINDEX_PATHS=["/admin"]).test_client()
    assert ("X-Robots-Tag" in get(client, path).headers) is private


def test_custom_robots_tag_value(tmp_path: Path) -> None:
    """BASTION_CONTENT_ROBOTS_TAG sets the value sent."""
    client = content_app(tmp_path, BASTION_CONTENT_ROBOTS_TAG="noindex").test_client()
    assert get(client, "/admin/").headers["X-Robots-Tag"] == "noindex"


def test_robots_tag_none_sends_nothing(tmp_path: Path) -> None:
    """None turns the header off everywhere."""
    app = content_app(
        tmp_path, BASTION_CONTENT_ROBOTS_TAG=None, BASTION_CONTENT_NOINDEX_PATHS="/page"
    )
    client = app.test_client()
    client.post("/sign-in/1", base_url=HTTPS, headers={"Sec-Fetch-Site": "same-origin"})
    for path in ("/page", "/admin/"):
        assert "X-Robots-Tag" not in get(client, path).headers


def test_signed_in_rule_can_be_turned_off(tmp_path: Path) -> None:
    """BASTION_CONTENT_NOINDEX_SIGNED_IN=False leaves signed-in public pages alone."""
    client = content_app(tmp_path, BASTION_CONTENT_NOINDEX_SIGNED_IN=False).test_client()
    client.post("/sign-in/1", base_url=HTTPS, headers={"Sec-Fetch-Site": "same-origin"})
    assert "X-Robots-Tag" not in get(client, "/page").headers
    assert get(client, "/admin/").headers["X-Robots-Tag"] == "noindex, nofollow"


class _BearerStub:
    """Marks every request as authenticated by itself, as a valid bearer token does."""

    name = "bearer-stub"
    stage = Stage.AUTHENTICATE

    def init_app(self, app: Flask) -> None:
        pass

    def before_request(self, request: Request, state: RequestState) -> None:
        state.stateless = True


def test_bearer_requests_are_noindex(tmp_path: Path) -> None:
    """An API request authenticated by a token is a signed-in user's request."""
    client = content_app(tmp_path, bastion={"components": [_BearerStub()]}).test_client()
    assert get(client, "/page").headers["X-Robots-Tag"] == "noindex, nofollow"
