"""The HTML pages: security headers, HTTPS redirect, and markup the CSP allows."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient


class _Tags(HTMLParser):
    """Collects every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def test_home_page_over_https(client: FlaskClient) -> None:
    """The home page renders over HTTPS with the CSP and HSTS headers."""
    response = client.get("/", base_url="https://localhost")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "Content-Security-Policy" in response.headers
    assert "Strict-Transport-Security" in response.headers
    assert b"Create an account" in response.data


def test_scripts_and_stylesheets_carry_the_csp_nonce(client: FlaskClient) -> None:
    """Every script and stylesheet tag carries the nonce of the response's CSP."""
    response = client.get("/", base_url="https://localhost")
    match = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert match is not None
    tags = _tags(response.get_data(as_text=True))
    nonced = [
        attrs
        for tag, attrs in tags
        if tag == "script" or (tag == "link" and attrs.get("rel") == "stylesheet")
    ]
    assert len(nonced) == 2
    assert [attrs.get("nonce") for attrs in nonced] == [match.group(1)] * 2


def test_scripts_and_stylesheets_carry_their_integrity_digest(app: Flask) -> None:
    """The script and the stylesheet carry the SHA-384 digest of the static file."""
    html = app.test_client().get("/", base_url="https://localhost").get_data(as_text=True)
    assert app.static_folder is not None
    found = {}
    for tag, attrs in _tags(html):
        if tag == "script" or (tag == "link" and attrs.get("rel") == "stylesheet"):
            url = attrs.get("src") or attrs.get("href") or ""
            found[url.rsplit("/", 1)[-1]] = attrs.get("integrity")
    expected = {
        name: "sha384-"
        + base64.b64encode(
            hashlib.sha384((Path(app.static_folder) / name).read_bytes()).digest()
        ).decode()
        for name in ("vault.js", "vault.css")
    }
    assert found == expected


def test_no_inline_script_style_or_handlers(client: FlaskClient) -> None:
    """No inline script, style element, style attribute or event-handler attribute."""
    tags = _tags(client.get("/", base_url="https://localhost").get_data(as_text=True))
    assert all(attrs.get("src") for tag, attrs in tags if tag == "script")
    assert [tag for tag, _ in tags if tag == "style"] == []
    assert [
        (tag, name) for tag, attrs in tags for name in attrs if name == "style" or name[:2] == "on"
    ] == []


def test_static_files_served(client: FlaskClient) -> None:
    """The stylesheet and the script referenced by the layout exist."""
    for name, mimetype in (("vault.css", "text/css"), ("vault.js", "text/javascript")):
        response = client.get(f"/static/{name}", base_url="https://localhost")
        assert response.status_code == 200
        assert response.mimetype == mimetype
        response.close()


def test_plain_http_redirected_to_https(client: FlaskClient) -> None:
    """A plain-HTTP request is redirected to HTTPS with 308."""
    response = client.get("/?q=1")
    assert response.status_code == 308
    assert response.headers["Location"] == "https://localhost/?q=1"


@pytest.mark.parametrize("path", ["/", "/preferences"])
def test_per_visitor_pages_are_not_cached(client: FlaskClient, path: str) -> None:
    """Pages that show the visitor's theme or carry a CSRF token vary on the cookie and
    are kept by no cache, so a shared cache never serves one visitor's page to another."""
    response = client.get(path, base_url="https://localhost")
    assert response.headers.getlist("Cache-Control") == ["private, no-store"]
    assert "cookie" in {value.lower() for value in response.vary}


def test_static_files_stay_cacheable(client: FlaskClient) -> None:
    """A static file reads no session: nothing marks it private."""
    response = client.get("/static/vault.css", base_url="https://localhost")
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert "cookie" not in {value.lower() for value in response.vary}
    response.close()
