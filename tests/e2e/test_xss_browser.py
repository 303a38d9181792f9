"""Stored and reflected XSS against Vault, proved in Debian's Chromium.

Every payload of ``tests/corpora/xss.txt`` (script tags, event handlers, ``javascript:``
URLs, SVG, mutation XSS, encodings, template injection) goes in through each Vault input
that is shown again: note titles and bodies, search queries, share targets, personal API
token names, passkey names (the display names an account gives its devices), error-page
paths and attachment names (of files the browser uploads). The pages are rendered by a
real browser under Vault's Content-Security-Policy, and for every page:

* nothing runs: no dialog opens, no payload calls the ``xss()`` marker function exposed to
  every frame, and no CSP violation is reported (an event or a console error);
* nothing dangerous reaches the DOM: no ``on*`` attribute, no ``javascript:``, ``vbscript:``
  or ``data:text/html`` URL, no script without the page's nonce, no frame, object, embed or
  base element, and in a rendered note body no SVG, MathML, style, template or form;
* the payload shows as text where the page shows it raw (the list, the heading, the form
  fields), and no template expression is evaluated: ``7*191`` never becomes ``1337``.

Payloads are written through the test client signed in as the same user (fast), then
read by the browser with that user's session cookie; many payloads share one page where
the page lists them (the note list, the tokens, the passkeys).
"""

from __future__ import annotations

import re
import secrets
import time
import typing as t
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_bastion.mfa.models import Passkey
from vault.db import get_db
from vault.models import Attachment, User

from ..corpora import EVALUATED, Payload, load
from .conftest import TIMEOUT_MS, Server
from .vault_site import make_vault

if t.TYPE_CHECKING:
    from flask import Flask
    from playwright.sync_api import Browser, BrowserContext

pytestmark = pytest.mark.slow

PAYLOADS = load("xss.txt", marked=True)
#: Payloads per user: the note list shows at most 200 notes.
CHUNK = 170
CHUNKS = [PAYLOADS[i : i + CHUNK] for i in range(0, len(PAYLOADS), CHUNK)]
CHUNK_IDS = [f"payloads-{c[0].mark}-{c[-1].mark}" for c in CHUNKS]
PASSWORD = "quiet notes kept behind a locked door"
#: What a page must never show: an evaluated template, or the application's secrets.
NEVER_SHOWN = (EVALUATED, "SECRET_KEY", "uid=", "<Config")
#: Random hex the pages show (request IDs on error pages): ``1337`` turns up in one of
#: them now and then, so they are left out before looking for :data:`EVALUATED`.
RANDOM_HEX = re.compile(r"\b[0-9a-f]{24,}\b")
#: Names and passkey names longer than this are refused (and not shown).
NAME_MAX = 80

#: Runs in every frame before the page's own scripts: report CSP violations to Python.
WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violation(e.violatedDirective + " " + e.blockedURI);
});
"""

#: What is dangerous in a page's DOM, as a list of findings (empty when clean).
INSPECT = r"""
() => {
  const found = [];
  const urlAttrs = ["href", "src", "action", "formaction", "xlink:href", "data",
                    "background", "poster", "srcdoc", "ping"];
  const badUrl = /^(javascript|vbscript|data:text\/html|data:image\/svg)/;
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) {
      const name = a.name.toLowerCase();
      const value = a.value.replace(/[\u0000-\u0020]+/g, "").toLowerCase();
      if (name.startsWith("on")) found.push(`${el.localName}[${name}]`);
      if (urlAttrs.includes(name) && (name === "srcdoc" || badUrl.test(value)))
        found.push(`${el.localName}[${name}=${a.value}]`);
    }
    if (el.localName === "script" && !el.nonce) found.push("script without nonce");
    if (["iframe", "frame", "object", "embed", "base", "template", "noscript"]
        .includes(el.localName) && el.closest("body")) found.push(el.localName);
  }
  for (const el of document.querySelectorAll(
      ".note-body :is(svg, math, style, form, input, textarea, button, select, link, meta)"))
    found.push(`note body: ${el.localName}`);
  const h1 = document.querySelector("h1");
  return {
    found,
    text: document.body ? document.body.innerText : "",
    h1: h1 ? h1.innerText : "",
    values: Object.fromEntries(
      [...document.querySelectorAll("input[id], textarea[id]")].map((e) => [e.id, e.value])),
    links: [...document.querySelectorAll("ul.notes a")].map((a) => a.innerText),
    files: [...document.querySelectorAll(".attachments a[download]")].map((a) => a.innerText),
  };
}
"""


def one_line(text: str) -> str:
    """``text`` as a note title Vault accepts: one line, no control or format characters
    (its text rules refuse them in one-line fields), normalised as Vault stores it."""
    kept = "".join(
        " " if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp", "Cs"} else c for c in text
    )
    return unicodedata.normalize("NFC", kept).strip() or "title"


def flat(text: str) -> str:
    """``text`` as a browser shows it: runs of whitespace as one space, trimmed."""
    return " ".join(text.split())


class Seen(t.NamedTuple):
    """What a page shows: dangerous findings, visible text, heading, field values by ID,
    the note list's link texts and the attachments' names."""

    found: list[str]
    text: str
    h1: str
    values: dict[str, str]
    links: list[str]
    files: list[str]


class Watch:
    """What ran in a browser context: marker calls, dialogs and CSP violations."""

    def __init__(self, context: BrowserContext, account: Account | None = None) -> None:
        #: The account whose payloads the test reads.
        self.account = t.cast(Account, account)
        self.ran: list[str] = []
        self.violations: list[str] = []
        context.expose_binding("xss", lambda source, mark=None: self.ran.append(str(mark)))
        context.expose_binding("__violation", lambda source, v: self.violations.append(v))
        context.add_init_script(WATCH)
        self.page = context.new_page()
        self.page.on("dialog", self._dialog)
        self.page.on("popup", lambda popup: self.ran.append(f"popup {popup.url}"))
        self.page.on(
            "console",
            lambda m: (
                self.violations.append(m.text)
                if m.type == "error" and "Content Security Policy" in m.text
                else None
            ),
        )

    def _dialog(self, dialog: t.Any) -> None:
        self.ran.append(f"{dialog.type}({dialog.message})")
        dialog.dismiss()

    def visit(self, url: str, *status: int) -> Seen:
        """Open ``url``, check its DOM and return what it shows.

        :param status: the statuses expected; 200 when none is given.
        """
        response = self.page.goto(url)
        assert response is not None and response.status in (status or (200,)), url
        return self.inspect(url)

    def inspect(self, where: str) -> Seen:
        """Check the current page's DOM and return what it shows."""
        seen = Seen(**self.page.evaluate(INSPECT))
        assert seen.found == [], where
        text = RANDOM_HEX.sub("", seen.text)
        assert not [s for s in NEVER_SHOWN if s in text], where
        return seen

    def assert_clean(self) -> None:
        """Nothing ran and nothing was refused (a round trip first, so every report of
        the pages seen so far has arrived)."""
        self.page.evaluate("1")
        assert self.ran == []
        assert self.violations == []


class Account(t.NamedTuple):
    """A chunk's author: its payloads, session cookie and what it stored."""

    email: str
    payloads: list[Payload]
    cookies: list[dict[str, str]]
    notes: dict[int, str]
    token_status: dict[int, int]
    passkey_status: dict[int, int]


class Site(t.NamedTuple):
    app: Flask
    base: str
    accounts: list[Account]


def signed_in(app: Flask, base: str, email: str) -> tuple[FlaskClient, list[dict[str, str]]]:
    """A test client signed in as ``email``, and its cookies for the browser."""
    client = app.test_client()
    client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
    response = client.post(f"{base}/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)
    cookies = []
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        cookies.append({"name": name, "value": rest.split(";", 1)[0], "url": base})
    return client, cookies


def store_payloads(app: Flask, base: str, email: str, payloads: list[Payload]) -> Account:
    """Write ``payloads`` through every input of the account ``email``."""
    client, cookies = signed_in(app, base, email)
    notes = {}
    tokens = {}
    for p in payloads:
        made = client.post(f"{base}/notes/new", data={"title": one_line(p.text), "body": p.text})
        assert made.status_code == 303, (p, made.status_code)
        notes[p.mark] = made.headers["Location"].rsplit("/", 1)[1]
        form = {"action": "create", "name": p.text, "scopes": "notes:read", "days": "30"}
        tokens[p.mark] = client.post(f"{base}/account/tokens", data=form).status_code
    with app.app_context():
        db = get_db()
        user_id = str(db.scalars(select(User).where(User.email == email)).one().get_id())
        rows = [
            Passkey(
                user_id=user_id,
                credential_id=secrets.token_urlsafe(32),
                public_key=secrets.token_bytes(77),
                name="device",
                created_at=time.time(),
            )
            for _ in payloads
        ]
        db.add_all(rows)
        db.commit()
        ids = [row.id for row in rows]
    passkeys = {
        p.mark: client.post(
            f"{base}/account/passkeys/{row_id}/rename", data={"name": p.text}
        ).status_code
        for p, row_id in zip(payloads, ids, strict=True)
    }
    return Account(email, payloads, cookies, notes, tokens, passkeys)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Vault with one author per chunk of payloads, every payload stored."""
    folder: Path = tmp_path_factory.mktemp("vault-xss")
    # Hundreds of unrouted error-page paths from one address are a scanning burst that
    # the IP filter would ban (docs/ipfilter.md), and thousands of pages a minute are past
    # the rate limits: both off here, where the burst is the test.
    app = make_vault(folder, BASTION_IPFILTER_NOTFOUND_BURST=0, BASTION_RATELIMIT_ENABLED=False)
    runner = app.test_cli_runner()
    emails = [f"author{i}@example.com" for i in range(len(CHUNKS))]
    for email in emails:
        created = runner.invoke(
            args=["bastion", "users", "create", email, "--password-stdin"], input=PASSWORD + "\n"
        )
        assert created.exit_code == 0, created.output
    with Server(app) as server:
        base = f"http://localhost:{server.port}"
        accounts = [
            store_payloads(app, base, email, chunk)
            for email, chunk in zip(emails, CHUNKS, strict=True)
        ]
        yield Site(app, base, accounts)


@pytest.fixture
def author(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Watch]:
    """A browser signed in as the author of the chunk the test is parametrized with."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.add_cookies(site.accounts[request.param].cookies)  # type: ignore[arg-type]
    try:
        yield Watch(context, site.accounts[request.param])
    finally:
        context.close()


by_chunk = pytest.mark.parametrize("author", range(len(CHUNKS)), ids=CHUNK_IDS, indirect=True)


def test_the_corpus_covers_every_family() -> None:
    """At least 300 payloads, unique, each family represented."""
    assert len(PAYLOADS) >= 300
    groups = {p.group for p in PAYLOADS}
    assert groups >= {
        "script tags", "event handlers", "javascript urls", "svg",
        "mutation xss", "encodings", "template injection",
    }  # fmt: skip
    assert len({p.mark for p in PAYLOADS}) == len(PAYLOADS)


def test_the_watch_sees_a_payload_that_runs(browser: Browser) -> None:
    """A control for the checks below: on a page that echoes its input raw, a marker call,
    a dialog and a dangerous attribute are caught; under a CSP, the violation is."""
    echo = Flask(__name__)

    @echo.get("/raw")
    def raw() -> str:
        return request.args["v"]  # deliberately unescaped

    @echo.get("/csp")
    def csp() -> Response:
        return Response(request.args["v"], headers={"Content-Security-Policy": "script-src 'none'"})

    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        with Server(echo) as server:
            base = f"http://localhost:{server.port}"
            watch = Watch(context)
            watch.page.goto(f"{base}/raw?{urlencode({'v': '<img src=x onerror=xss(7)>'})}")
            with pytest.raises(AssertionError):
                watch.inspect("raw")
            watch.page.goto(f"{base}/raw?{urlencode({'v': '<script>alert(8)</script>'})}")
            watch.page.goto(f"{base}/csp?{urlencode({'v': '<script>xss(9)</script>'})}")
            watch.page.evaluate("1")
            assert watch.ran == ["7", "alert(8)"]
            assert [v for v in watch.violations if v.startswith("script-src")] != []
    finally:
        context.close()


@by_chunk
def test_note_titles_and_bodies_never_run(author: Watch, site: Site) -> None:
    """Titles in the list, then each note's page and edit form: nothing runs, the title
    is the heading's text, the form gives back exactly what was stored."""
    account = author.account
    titles = author.visit(f"{site.base}/notes").links
    expected = sorted(flat(one_line(p.text)) for p in account.payloads)
    assert sorted(flat(x) for x in titles) == expected
    for p in account.payloads:
        url = f"{site.base}/notes/{account.notes[p.mark]}"
        assert flat(author.visit(url).h1) == flat(one_line(p.text)), p
        form = author.visit(f"{url}/edit").values
        assert form == {"title": one_line(p.text), "body": p.text}, p
    author.assert_clean()


@by_chunk
def test_search_queries_never_run(author: Watch, site: Site) -> None:
    """A query is reflected in the search field as typed, and finds its note."""
    account = author.account
    for p in account.payloads:
        seen = author.visit(f"{site.base}/notes?{urlencode({'q': p.text})}")
        assert seen.values["q"] == re.sub(r"[\r\n]", "", p.text), p
        if one_line(p.text) == p.text:  # otherwise the title holds another spelling
            assert flat(p.text) in [flat(x) for x in seen.links], p
    author.assert_clean()


@by_chunk
def test_share_targets_never_run(author: Watch, site: Site) -> None:
    """Each payload submitted by the browser as the address to share with: refused as
    no such account, and nothing runs on the answer."""
    account = author.account
    share = f"{site.base}/notes/{next(iter(account.notes.values()))}/share"
    author.visit(share)
    for p in account.payloads:
        with author.page.expect_navigation():
            author.page.evaluate(
                """(value) => {
                  const input = document.querySelector("#email");
                  input.type = "text";
                  input.removeAttribute("maxlength");
                  input.value = value;
                  input.form.noValidate = true;
                  input.form.submit();
                }""",
                p.text,
            )
        assert "There is no account with this address." in author.inspect(p.text).text, p
    author.assert_clean()


@by_chunk
def test_token_and_passkey_names_never_run(author: Watch, site: Site) -> None:
    """Token names and passkey names are listed as text; a name over the limit is refused."""
    account = author.account
    short = [p for p in account.payloads if len(p.text.strip()) <= NAME_MAX]
    for statuses, created in ((account.token_status, 201), (account.passkey_status, 303)):
        assert {m: s for m, s in statuses.items() if s != created} == {
            p.mark: 422 for p in account.payloads if p not in short
        }
    names = sorted(flat(p.text) for p in short)
    # A refused name leaves the passkey with the name it had.
    renamed = sorted([*names, *["device"] * (len(account.payloads) - len(short))])
    pages = (
        ("/account/tokens", "main li strong", names),
        ("/account/passkeys", "ul.passkeys li strong", renamed),
    )
    for path, selector, expected in pages:
        author.visit(site.base + path)
        shown = author.page.eval_on_selector_all(selector, "s => s.map(x => x.innerText)")
        assert sorted(flat(n) for n in shown) == expected, path
    author.assert_clean()


@by_chunk
def test_error_page_paths_never_run(author: Watch, site: Site) -> None:
    """A payload as a path, at the top level or as a note ID: an error page, nothing runs."""
    account = author.account
    for p in account.payloads:
        # Half at the top level (no route), half as a note ID (the view's own 404).
        prefix = "/notes/" if p.mark % 2 else "/"
        # A control character in the path is refused before routing: 400.
        author.visit(f"{site.base}{prefix}{quote(p.text, safe='')}", 404, 400)
    author.assert_clean()


@by_chunk
def test_attachment_names_never_run(author: Watch, site: Site) -> None:
    """Each payload as the name of a file the browser uploads to a note: the answer (the
    note, or the refusal of a name with a path or a control character) runs nothing, and
    the note lists every stored name as text."""
    account = author.account
    note_id = next(iter(account.notes.values()))
    author.visit(f"{site.base}/notes/{note_id}")
    for p in account.payloads:
        author.page.set_input_files(
            "#file", files=[{"name": p.text + ".txt", "mimeType": "text/plain", "buffer": b"x\n"}]
        )
        with author.page.expect_navigation():
            author.page.click(".attachments button[type=submit] >> text=Upload")
        author.inspect(p.text)
    with site.app.app_context():
        stored = get_db().scalars(select(Attachment).where(Attachment.note_id == note_id))
        names = sorted(flat(row.name) for row in stored)
    assert names, "no payload name was stored"
    shown = author.visit(f"{site.base}/notes/{note_id}").files
    assert sorted(flat(name) for name in shown) == names
    author.assert_clean()
