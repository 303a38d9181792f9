"""The end-to-end harness: a missing browser skips locally and fails in CI."""

from __future__ import annotations

import pytest

from .conftest import unavailable


def test_missing_browser_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without BASTION_REQUIRE_SERVICES, a missing browser skips the test."""
    monkeypatch.delenv("BASTION_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        unavailable("chromium is missing")


def test_missing_browser_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """With BASTION_REQUIRE_SERVICES=1, a missing browser fails the test."""
    monkeypatch.setenv("BASTION_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="BASTION_REQUIRE_SERVICES=1"):
        unavailable("chromium is missing")
