"""Vault's rate limits: page budgets on listings and search, an unlimited health probe."""

from __future__ import annotations

import typing as t

from flask import Flask
from test_notes import BASE, sign_in, token
from test_notes import vault as vault

from flask_bastion import get_state, signals


def test_notes_search_has_a_burst_limit_that_reports_scraping(vault: Flask) -> None:
    """Thirty-one searches in ten seconds: the last is a 429 and a scraping signal."""
    seen: list[dict[str, t.Any]] = []

    def receive(sender: t.Any, **kw: t.Any) -> None:
        seen.append(kw)

    client = sign_in(vault)
    signals.scraping_suspected.connect(receive, vault)
    try:
        codes = [client.get(f"{BASE}/notes?q=plan{n}").status_code for n in range(31)]
    finally:
        signals.scraping_suspected.disconnect(receive, vault)
    assert codes == [200] * 30 + [429]
    assert [s["endpoint"] for s in seen] == ["notes.index"]
    assert seen[0]["user_id"] is not None


def test_notes_budget_resets_with_the_window(vault: Flask) -> None:
    """Once the burst window has passed, listing works again."""
    client = sign_in(vault)
    limiter = get_state(vault).component("ratelimit")
    start = limiter.clock()
    limiter.clock = lambda: start
    for _ in range(30):
        client.get(f"{BASE}/notes")
    assert client.get(f"{BASE}/notes").status_code == 429
    limiter.clock = lambda: start + 11
    assert client.get(f"{BASE}/notes").status_code == 200


def test_api_listing_has_a_page_budget(vault: Flask) -> None:
    """The JSON listing is throttled too, with a problem document and RateLimit headers."""
    headers = token(vault)
    client = vault.test_client()
    codes = [client.get(f"{BASE}/api/v1/notes", headers=headers) for _ in range(31)]
    assert [c.status_code for c in codes[:30]] == [200] * 30
    refused = codes[-1]
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert "pages-burst" in refused.headers["RateLimit-Policy"]


def test_health_probe_is_never_limited(vault: Flask) -> None:
    """A load balancer may probe /healthz as often as it likes."""
    client = vault.test_client()
    responses = [client.get(f"{BASE}/healthz") for _ in range(700)]
    assert {r.status_code for r in responses} == {200}
    assert "RateLimit" not in responses[0].headers
