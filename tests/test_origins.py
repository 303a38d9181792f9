"""Origin lists (``origins.py``): wildcards over public suffixes match nothing, and the
Public Suffix List is read when a list is built, never per request."""

from __future__ import annotations

import pytest

from flask_bastion import origins
from flask_bastion.origins import OriginList, wildcard_public_suffix


@pytest.mark.parametrize(
    ("entry", "stranger"),
    [
        pytest.param("https://*.co.uk", "https://evil.co.uk", id="icann-co-uk"),
        pytest.param("https://*.com.au", "https://evil.com.au", id="icann-com-au"),
        pytest.param("https://*.github.io", "https://attacker.github.io", id="private-github-io"),
        pytest.param(
            "https://*.herokuapp.com", "https://attacker.herokuapp.com", id="private-herokuapp"
        ),
        pytest.param("https://*.CO.UK", "https://evil.co.uk", id="upper-case"),
        pytest.param("https://*.co.uk.", "https://evil.co.uk.", id="trailing-dot"),
        pytest.param("https://*.co.uk:8443", "https://evil.co.uk:8443", id="with-port"),
        pytest.param("https://*.xn--55qx5d.cn", "https://evil.xn--55qx5d.cn", id="punycode-idn"),
        pytest.param("https://*.org", "https://evil.org", id="top-level-domain"),
    ],
)
def test_wildcard_over_a_public_suffix_matches_no_stranger(entry: str, stranger: str) -> None:
    """A wildcard over a public suffix, built into a list without the configuration's
    check, trusts none of the sites anyone can register or publish under it."""
    allow = OriginList([entry])
    assert stranger not in allow
    assert not allow


@pytest.mark.parametrize(
    ("entry", "origin"),
    [
        pytest.param("https://*.example.co.uk", "https://a.example.co.uk", id="under-co-uk"),
        pytest.param("https://*.yours.github.io", "https://a.yours.github.io", id="own-pages"),
        pytest.param("https://*.example.org", "https://a.example.org", id="registrable"),
    ],
)
def test_wildcard_under_a_registrable_domain_matches(entry: str, origin: str) -> None:
    """A wildcard under a registrable domain keeps matching one subdomain label."""
    assert origin in OriginList([entry])
    assert "https://evil." + origin.partition(".")[2].partition(".")[2] not in OriginList([entry])


def test_exact_origins_are_not_looked_up() -> None:
    """An exact origin is compared as a string, whatever its host."""
    assert "https://github.io" in OriginList(["https://github.io"])
    assert wildcard_public_suffix("https://co.uk") is None


@pytest.mark.parametrize(
    ("entry", "suffix"),
    [
        ("https://*.co.uk", "co.uk"),
        ("https://*.GitHub.io:8443", "github.io"),
        ("https://*.co.uk.", "co.uk"),
        ("https://*.公司.cn", "公司.cn"),
        ("https://*.example.co.uk", None),
        ("https://a.*.co.uk", None),
    ],
    ids=["icann", "private-case-port", "trailing-dot", "unicode-idn", "registrable", "inner"],
)
def test_wildcard_public_suffix_names_the_suffix(entry: str, suffix: str | None) -> None:
    """The suffix a wildcard spans is named in lower case, without port or trailing dot."""
    assert wildcard_public_suffix(entry) == suffix


def test_matching_never_reads_the_public_suffix_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """Matching an origin costs what an exact or regex comparison costs: the list is read
    only when the OriginList is built."""
    allow = OriginList(["https://*.example.co.uk", "https://partner.example"])

    def unavailable() -> None:
        raise AssertionError("the Public Suffix List was read while matching")

    monkeypatch.setattr(origins, "_public_suffix_list", unavailable)
    assert "https://a.example.co.uk" in allow
    assert "https://partner.example" in allow
    assert "https://evil.co.uk" not in allow
