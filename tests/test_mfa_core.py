"""The second factor's core: TOTP codes (RFC 6238 vectors, window, replay), the QR
code, recovery codes, and the stored credential on SQLite and PostgreSQL (encrypted,
confirmed once, codes accepted once even by racing requests)."""

from __future__ import annotations

import base64
import re
import threading
import typing as t
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from markupsafe import Markup

from flask_bastion import Bastion, signals
from flask_bastion.accounts import Accounts, User, accounts_state
from flask_bastion.crypto import DecryptionFailed, keyring_for
from flask_bastion.mfa import (
    AlreadyEnrolled,
    InvalidCode,
    TotpCredential,
    confirm_totp,
    disable_mfa,
    enrol_totp,
    generate_codes,
    new_secret,
    pending_totp_secret,
    provisioning_uri,
    qr_svg,
    recovery_codes_left,
    regenerate_recovery_codes,
    rotate_totp_secrets,
    totp_context,
    totp_enabled,
    use_recovery_code,
    verify,
    verify_totp,
)
from flask_bastion.mfa import core as mfa_core
from flask_bastion.mfa import recovery as recovery_module
from flask_bastion.mfa.recovery import consume, hash_code, normalise

from .accounts_helpers import Clock
from .conftest import OPEN_APPS, SECRET

#: RFC 6238 appendix B's SHA-1 secret ("12345678901234567890"), base32.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
#: A moment and its time step.
T0 = 1_900_000_005.0
STEP0 = int(T0) // 30
CODE_RE = re.compile(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}")
KEY_OLD = base64.urlsafe_b64encode(bytes(range(32))).decode()
KEY_NEW = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()
#: Seconds a racing thread may wait for the other before the test fails.
WAIT = 30.0


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


# -- TOTP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "code"),
    [
        (59, "287082"),
        (1111111109, "081804"),
        (1111111111, "050471"),
        (1234567890, "005924"),
        (2000000000, "279037"),
        (20000000000, "353130"),
    ],
    ids=["59", "1111111109", "1111111111", "1234567890", "2000000000", "20000000000"],
)
def test_rfc_6238_vectors(now: int, code: str) -> None:
    """The SHA-1 vectors of RFC 6238 (their last six digits) verify at their time, and
    the accepted step is the time's step."""
    assert verify(RFC_SECRET, code, last_step=None, now=now) == now // 30


@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["previous", "current", "next"])
def test_one_step_either_side_is_accepted(offset: int) -> None:
    """A code of the previous, current or next step is accepted, and that step
    returned."""
    code = code_at(RFC_SECRET, STEP0 + offset)
    assert verify(RFC_SECRET, code, last_step=None, now=T0) == STEP0 + offset


@pytest.mark.parametrize("offset", [-2, 2, -10], ids=["two-before", "two-after", "ten-before"])
def test_two_steps_away_is_refused(offset: int) -> None:
    """A code two or more steps away raises InvalidCode."""
    with pytest.raises(InvalidCode):
        verify(RFC_SECRET, code_at(RFC_SECRET, STEP0 + offset), last_step=None, now=T0)


@pytest.mark.parametrize("last_step", [STEP0, STEP0 + 1], ids=["same-step", "later-step"])
def test_replayed_step_is_refused(last_step: int) -> None:
    """A code whose step is at or before last_step raises InvalidCode."""
    with pytest.raises(InvalidCode):
        verify(RFC_SECRET, code_at(RFC_SECRET, STEP0), last_step=last_step, now=T0)


def test_step_after_last_step_is_accepted() -> None:
    """A code of the step right after last_step is accepted."""
    code = code_at(RFC_SECRET, STEP0)
    assert verify(RFC_SECRET, code, last_step=STEP0 - 1, now=T0) == STEP0


def test_spaces_in_a_code_are_ignored() -> None:
    """'123 456' (as apps show codes) is read as '123456'."""
    code = code_at(RFC_SECRET, STEP0)
    assert verify(RFC_SECRET, f" {code[:3]} {code[3:]} ", last_step=None, now=T0) == STEP0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:5],
        lambda c: c + "0",
        lambda c: "0" + c,
        lambda c: c[:5] + "x",
        lambda c: c.translate(
            str.maketrans("0123456789", "".join(map(chr, range(0xFF10, 0xFF1A))))
        ),
        lambda c: c[:3] + "-" + c[3:],
        lambda c: c + "\n",
        lambda c: int(c),
        lambda c: None,
        lambda c: c.encode(),
    ],
    ids=[
        "five-digits",
        "seven-digits",
        "leading-zero-added",
        "letter",
        "full-width-digits",
        "hyphen",
        "newline",
        "int",
        "none",
        "bytes",
    ],
)
def test_malformed_code_is_refused(mangle: Callable[[str], object]) -> None:
    """Anything but exactly six ASCII digits (after removing spaces) raises
    InvalidCode, even when its digits are the right code."""
    with pytest.raises(InvalidCode):
        verify(RFC_SECRET, mangle(code_at(RFC_SECRET, STEP0)), last_step=None, now=T0)


def test_new_secret_is_160_random_bits_in_base32() -> None:
    """new_secret is 32 base32 characters (20 bytes), different each time."""
    secrets_ = {new_secret() for _ in range(20)}
    assert len(secrets_) == 20
    for secret in secrets_:
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert len(base64.b32decode(secret)) == 20


def test_provisioning_uri_names_issuer_and_account() -> None:
    """The otpauth URI carries the secret, the issuer and the account, percent-encoded."""
    uri = provisioning_uri(RFC_SECRET, "ann@example.com", "Vault & Co")
    assert uri.startswith("otpauth://totp/Vault%20%26%20Co:ann%40example.com?")
    assert f"secret={RFC_SECRET}" in uri and "issuer=Vault%20%26%20Co" in uri


def test_qr_code_is_inline_svg_that_a_strict_csp_allows() -> None:
    """qr_svg is Markup holding one <svg> element, with no style attribute or element,
    no script, no XML declaration and no external reference."""
    svg = qr_svg(provisioning_uri(RFC_SECRET, "ann@example.com", "Vault"))
    assert isinstance(svg, Markup)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    lowered = svg.lower()
    for forbidden in ("style=", "<style", "<script", "<?xml", "href", "javascript:", " on"):
        assert forbidden not in lowered, forbidden


def test_qr_code_title_is_escaped() -> None:
    """A title with markup is escaped inside the SVG."""
    svg = qr_svg("otpauth://totp/x?secret=AAAA", title="<b>Scan</b> & go")
    assert "<title>&lt;b&gt;Scan&lt;/b&gt; &amp; go</title>" in svg


def test_qr_code_encodes_the_uri() -> None:
    """The QR code differs for two URIs (it encodes the secret)."""
    assert qr_svg("otpauth://totp/a?secret=AAAA") != qr_svg("otpauth://totp/a?secret=BBBB")


# -- recovery codes ------------------------------------------------------------------------------


def test_recovery_codes_are_ten_distinct_grouped_codes() -> None:
    """generate_codes gives 10 distinct xxxx-xxxx-xxxx-xxxx codes of base32 (80 bits)."""
    codes = generate_codes()
    assert len(codes) == len(set(codes)) == 10
    assert all(CODE_RE.fullmatch(code) for code in codes)


def test_recovery_code_count_is_a_parameter() -> None:
    """generate_codes(n) gives n codes."""
    assert len(generate_codes(3)) == 3


def test_stored_form_is_salted_and_holds_no_code() -> None:
    """hash_code is s256$salt$digest; two hashes of one code differ, neither shows it."""
    code = generate_codes(1)[0]
    first, second = hash_code(code), hash_code(code)
    assert first != second
    for stored in (first, second):
        assert re.fullmatch(r"s256\$[0-9a-f]{32}\$[0-9a-f]{64}", stored)
        assert normalise(code) not in stored


def test_hash_code_refuses_a_non_code() -> None:
    """hash_code raises ValueError for text that is not a recovery code."""
    with pytest.raises(ValueError):
        hash_code("password")


@pytest.mark.parametrize(
    "typed",
    [lambda c: c, lambda c: c.upper(), lambda c: c.replace("-", ""), lambda c: f" {c} "],
    ids=["as-shown", "upper-case", "no-hyphens", "spaces"],
)
def test_consume_finds_the_code(typed: Callable[[str], str]) -> None:
    """consume returns the index of the matching digest, however the code was typed."""
    codes = generate_codes(3)
    stored = [hash_code(c) for c in codes]
    assert consume(typed(codes[1]), stored) == 1


@pytest.mark.parametrize(
    "typed",
    ["aaaa-aaaa-aaaa-aaaa", "short", "", None, 42, "aaaa-aaaa-aaaa-aaa1"],
    ids=["wrong", "short", "empty", "none", "int", "outside-alphabet"],
)
def test_consume_refuses_other_input(typed: object) -> None:
    """consume returns None for a code not in the list and for anything not a code."""
    assert consume(typed, [hash_code(c) for c in generate_codes(3)]) is None


def test_consume_skips_malformed_stored_rows() -> None:
    """A stored value that is not s256$salt$digest matches nothing, and the rest still
    work."""
    code = generate_codes(1)[0]
    stored = ["garbage", "s256$zz$00", "md5$00$00", hash_code(code)]
    assert consume(code, stored) == 3
    assert consume(code, stored[:3]) is None


# -- the stored second factor --------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: t.Any) -> str:
    """A SQLite file, then a private PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/mfa.db"
    return t.cast(str, request.getfixturevalue("pg_url"))


def mfa_app(url: str, clock: Clock, **config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET,
        TRUSTED_HOSTS=["localhost"],
        BASTION_SESSIONS_STORE="memory",
        BASTION_ACCOUNTS_DATABASE_URL=url,
        **config,
    )
    Bastion(app, components=[Accounts(clock=clock, blueprint=False)])
    OPEN_APPS.append(app)
    return app


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def app(db_url: str, clock: Clock) -> Iterator[Flask]:
    app = mfa_app(db_url, clock)
    yield app
    engine = getattr(app.extensions["bastion.accounts"], "engine", None)
    if engine is not None:
        engine.dispose()


def add_user(app: Flask, email: str) -> User:
    with app.app_context():
        db = accounts_state().db()
        user = User(email=email, email_key=email, created_at=T0)
        db.add(user)
        db.commit()
        return user


@pytest.fixture
def ann(app: Flask) -> User:
    return add_user(app, "ann@example.com")


@pytest.fixture
def bob(app: Flask) -> User:
    return add_user(app, "bob@example.com")


@contextmanager
def recorded(signal: t.Any) -> Iterator[list[dict[str, t.Any]]]:
    calls: list[dict[str, t.Any]] = []

    def receive(sender: Flask, **extra: t.Any) -> None:
        calls.append(extra)

    signal.connect(receive)
    try:
        yield calls
    finally:
        signal.disconnect(receive)


def enrolled(app: Flask, user: User) -> tuple[str, list[str]]:
    """Enrol and confirm ``user`` with the current step's code: the secret and the
    recovery codes. The confirmation used STEP0."""
    with app.app_context():
        secret = enrol_totp(user)
        codes = confirm_totp(user, code_at(secret, STEP0))
    return secret, codes


def raw_rows(app: Flask, table: str) -> list[tuple[t.Any, ...]]:
    engine = accounts_state(app).engine
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(f"SELECT * FROM {table}"))]  # noqa: S608


def test_secret_is_stored_encrypted(app: Flask, ann: User) -> None:
    """The credential row holds a key ring token, never the base32 secret."""
    with app.app_context():
        secret = enrol_totp(ann)
    (row,) = raw_rows(app, "bastion_totp_credentials")
    text = " ".join(str(value) for value in row)
    assert secret not in text and secret.lower() not in text
    assert re.search(r"\bv1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+", text)


def test_secret_is_bound_to_its_user(app: Flask, ann: User) -> None:
    """The stored secret decrypts with the context totp:<id> and no other."""
    with app.app_context():
        secret = enrol_totp(ann)
        sealed = accounts_state().db().scalars(sa.select(TotpCredential.secret_encrypted)).one()
        ring = keyring_for(app)
        assert ring.decrypt(sealed, context=totp_context(ann.get_id())) == secret.encode()
        with pytest.raises(DecryptionFailed):
            ring.decrypt(sealed, context=totp_context("999"))


def test_ciphertext_moved_to_another_user_does_not_verify(app: Flask, ann: User, bob: User) -> None:
    """Copying ann's encrypted secret into bob's row does not let ann's codes sign bob in."""
    ann_secret, _ = enrolled(app, ann)
    enrolled(app, bob)
    with app.app_context():
        db = accounts_state().db()
        sealed = db.scalars(
            sa.select(TotpCredential.secret_encrypted).where(TotpCredential.user_id == ann.get_id())
        ).one()
        db.execute(
            sa.update(TotpCredential)
            .where(TotpCredential.user_id == bob.get_id())
            .values(secret_encrypted=sealed)
        )
        db.commit()
        with pytest.raises(DecryptionFailed):
            verify_totp(bob, code_at(ann_secret, STEP0 + 1))


def test_pending_enrolment_is_not_a_second_factor(app: Flask, ann: User) -> None:
    """Before confirmation, totp_enabled is false and verify_totp refuses a good code."""
    with app.app_context():
        secret = enrol_totp(ann)
        assert not totp_enabled(ann)
        with pytest.raises(InvalidCode):
            verify_totp(ann, code_at(secret, STEP0))


def test_pending_secret_can_be_shown_again(app: Flask, ann: User) -> None:
    """pending_totp_secret gives the pending secret, and None once confirmed."""
    with app.app_context():
        secret = enrol_totp(ann)
        assert pending_totp_secret(ann) == secret
        confirm_totp(ann, code_at(secret, STEP0))
        assert pending_totp_secret(ann) is None


def test_no_pending_secret_without_enrolment(app: Flask, ann: User) -> None:
    """pending_totp_secret is None for a user who never enrolled."""
    with app.app_context():
        assert pending_totp_secret(ann) is None


def test_confirmation_turns_the_factor_on_with_recovery_codes(app: Flask, ann: User) -> None:
    """A good code confirms: totp_enabled, ten recovery codes, mfa_enabled sent."""
    with recorded(signals.mfa_enabled) as enabled, app.app_context():
        secret = enrol_totp(ann)
        codes = confirm_totp(ann, code_at(secret, STEP0))
        assert totp_enabled(ann)
        assert (len(codes), recovery_codes_left(ann)) == (10, 10)
    assert enabled == [{"user": ann, "method": "totp"}]


def test_wrong_confirmation_code_keeps_it_pending(app: Flask, ann: User) -> None:
    """A wrong code raises InvalidCode, sends mfa_failed, and the enrolment stays
    pending."""
    with recorded(signals.mfa_failed) as failed, app.app_context():
        secret = enrol_totp(ann)
        with pytest.raises(InvalidCode):
            confirm_totp(ann, code_at(secret, STEP0 + 5))
        assert not totp_enabled(ann) and pending_totp_secret(ann) == secret
    assert failed == [{"user": ann, "method": "totp"}]


def test_confirmation_without_enrolment_is_refused(app: Flask, ann: User) -> None:
    """confirm_totp raises InvalidCode when nothing is pending."""
    with app.app_context(), pytest.raises(InvalidCode):
        confirm_totp(ann, "123456")


def test_second_confirmation_is_refused(app: Flask, ann: User) -> None:
    """A confirmed credential cannot be confirmed again (no second set of codes)."""
    secret, _ = enrolled(app, ann)
    with app.app_context(), pytest.raises(InvalidCode):
        confirm_totp(ann, code_at(secret, STEP0 + 1))


def test_enrolling_again_replaces_the_pending_secret(app: Flask, ann: User) -> None:
    """A second enrol_totp replaces the pending secret: the first one's codes no longer
    confirm."""
    with app.app_context():
        first = enrol_totp(ann)
        second = enrol_totp(ann)
        assert first != second
        with pytest.raises(InvalidCode):
            confirm_totp(ann, code_at(first, STEP0))
        confirm_totp(ann, code_at(second, STEP0))
        assert totp_enabled(ann)


def test_enrolling_over_a_confirmed_app_is_refused(app: Flask, ann: User) -> None:
    """enrol_totp raises AlreadyEnrolled while a confirmed app exists."""
    enrolled(app, ann)
    with app.app_context(), pytest.raises(AlreadyEnrolled):
        enrol_totp(ann)


def test_sign_in_code_is_accepted_once(app: Flask, ann: User) -> None:
    """verify_totp accepts a fresh code, then refuses the same code again."""
    secret, _ = enrolled(app, ann)
    with app.app_context():
        code = code_at(secret, STEP0 + 1)
        verify_totp(ann, code)
        with pytest.raises(InvalidCode):
            verify_totp(ann, code)
        (row,) = accounts_state().db().scalars(sa.select(TotpCredential)).all()
        assert row.last_step == STEP0 + 1


def test_confirmation_code_cannot_be_replayed_at_sign_in(app: Flask, ann: User) -> None:
    """The code that confirmed the enrolment does not also sign in."""
    secret, _ = enrolled(app, ann)
    with app.app_context(), pytest.raises(InvalidCode):
        verify_totp(ann, code_at(secret, STEP0))


def test_sign_in_follows_the_clock(app: Flask, ann: User, clock: Clock) -> None:
    """Thirty seconds later, the next step's code is accepted and the old one is not."""
    secret, _ = enrolled(app, ann)
    clock.now += 90
    with app.app_context():
        with pytest.raises(InvalidCode):
            verify_totp(ann, code_at(secret, STEP0 + 1))
        verify_totp(ann, code_at(secret, STEP0 + 3))


def test_wrong_sign_in_code_sends_mfa_failed(app: Flask, ann: User) -> None:
    """A wrong code raises InvalidCode and sends mfa_failed."""
    enrolled(app, ann)
    with recorded(signals.mfa_failed) as failed, app.app_context(), pytest.raises(InvalidCode):
        verify_totp(ann, "000000")
    assert failed == [{"user": ann, "method": "totp"}]


def test_user_without_second_factor_is_refused(app: Flask, ann: User) -> None:
    """verify_totp raises InvalidCode for a user who never enrolled."""
    with app.app_context(), pytest.raises(InvalidCode):
        verify_totp(ann, "123456")


def race(
    app: Flask, action: Callable[[], object], pause: Callable[[Callable[..., t.Any]], t.Any]
) -> list[str]:
    """Run ``action`` in two threads, each in its own application context, held
    together by ``pause`` right after each has read its row and checked the code, so
    both reach the atomic update with the same stale read. The outcomes."""
    barrier = threading.Barrier(2, timeout=WAIT)
    pause(barrier.wait)
    outcomes: list[str] = []

    def run() -> None:
        with app.app_context():
            try:
                action()
                outcomes.append("ok")
            except InvalidCode:
                outcomes.append("refused")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    return sorted(outcomes)


def test_racing_requests_with_one_code_pass_once(
    app: Flask, ann: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests that both checked the same fresh code: exactly one is accepted."""
    secret, _ = enrolled(app, ann)
    real = mfa_core.verify

    def pause(wait: Callable[[], t.Any]) -> None:
        def held(*args: t.Any, **kwargs: t.Any) -> int:
            step = real(*args, **kwargs)
            wait()
            return step

        monkeypatch.setattr(mfa_core, "verify", held)

    code = code_at(secret, STEP0 + 1)
    assert race(app, lambda: verify_totp(ann, code), pause) == ["ok", "refused"]


def test_racing_confirmations_confirm_once(
    app: Flask, ann: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two confirmations with the same code: one turns the factor on and gets the
    recovery codes, the other is refused."""
    with app.app_context():
        secret = enrol_totp(ann)
    real = mfa_core.verify

    def pause(wait: Callable[[], t.Any]) -> None:
        def held(*args: t.Any, **kwargs: t.Any) -> int:
            step = real(*args, **kwargs)
            wait()
            return step

        monkeypatch.setattr(mfa_core, "verify", held)

    code = code_at(secret, STEP0)
    assert race(app, lambda: confirm_totp(ann, code), pause) == ["ok", "refused"]
    with app.app_context():
        assert totp_enabled(ann) and recovery_codes_left(ann) == 10


def test_racing_first_enrolments_leave_one_pending_secret(
    app: Flask, ann: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first enrolments at once both succeed (the later replaces the earlier), and
    one pending row holds the secret of one of them."""
    real = mfa_core._credential
    secrets_: list[str] = []

    def pause(wait: Callable[[], t.Any]) -> None:
        def held(*args: t.Any) -> TotpCredential | None:
            found = real(*args)
            wait()
            return found

        monkeypatch.setattr(mfa_core, "_credential", held)

    assert race(app, lambda: secrets_.append(enrol_totp(ann)), pause) == ["ok", "ok"]
    monkeypatch.undo()
    with app.app_context():
        assert pending_totp_secret(ann) in secrets_
    assert len(raw_rows(app, "bastion_totp_credentials")) == 1


def test_enrolment_confirmed_meanwhile_is_refused(
    app: Flask, ann: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another request confirms the pending app between enrol_totp's read and its
    write, enrol_totp raises AlreadyEnrolled and the confirmed secret stays."""
    with app.app_context():
        first = enrol_totp(ann)
    real = mfa_core._credential

    def confirmed_meanwhile(*args: t.Any) -> TotpCredential | None:
        found = real(*args)
        monkeypatch.setattr(mfa_core, "_credential", real)
        with app.app_context():  # the other request
            confirm_totp(ann, code_at(first, STEP0))
        return found

    monkeypatch.setattr(mfa_core, "_credential", confirmed_meanwhile)
    with app.app_context(), pytest.raises(AlreadyEnrolled):
        enrol_totp(ann)
    with app.app_context():
        verify_totp(ann, code_at(first, STEP0 + 1))


def test_racing_requests_with_one_recovery_code_pass_once(
    app: Flask, ann: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests that both matched the same recovery code: exactly one spends it."""
    _, codes = enrolled(app, ann)
    real = recovery_module.consume

    def pause(wait: Callable[[], t.Any]) -> None:
        def held(*args: t.Any, **kwargs: t.Any) -> int | None:
            index = real(*args, **kwargs)
            wait()
            return index

        monkeypatch.setattr(recovery_module, "consume", held)

    assert race(app, lambda: use_recovery_code(ann, codes[0]), pause) == ["ok", "refused"]
    with app.app_context():
        assert recovery_codes_left(ann) == 9


def test_recovery_code_works_once(app: Flask, ann: User) -> None:
    """A recovery code is accepted once (returning the codes left), then refused."""
    _, codes = enrolled(app, ann)
    with recorded(signals.recovery_code_used) as used, app.app_context():
        assert use_recovery_code(ann, codes[3].upper()) == 9
        with pytest.raises(InvalidCode):
            use_recovery_code(ann, codes[3])
        assert recovery_codes_left(ann) == 9
    assert used == [{"user": ann, "remaining": 9}]


def test_recovery_code_of_another_user_is_refused(app: Flask, ann: User, bob: User) -> None:
    """bob cannot use one of ann's recovery codes."""
    _, codes = enrolled(app, ann)
    enrolled(app, bob)
    with recorded(signals.mfa_failed) as failed, app.app_context(), pytest.raises(InvalidCode):
        use_recovery_code(bob, codes[0])
    assert failed == [{"user": bob, "method": "recovery"}]


def test_recovery_codes_are_stored_as_digests(app: Flask, ann: User) -> None:
    """The recovery code table holds no code in any spelling."""
    _, codes = enrolled(app, ann)
    text = " ".join(str(v) for row in raw_rows(app, "bastion_recovery_codes") for v in row)
    assert not any(normalise(code) in text or code in text for code in codes)


def test_regenerated_codes_replace_the_old_ones(app: Flask, ann: User) -> None:
    """After regenerate_recovery_codes the old codes fail and the new ones work."""
    _, old = enrolled(app, ann)
    with recorded(signals.recovery_codes_generated) as generated, app.app_context():
        new = regenerate_recovery_codes(ann)
        with pytest.raises(InvalidCode):
            use_recovery_code(ann, old[0])
        assert use_recovery_code(ann, new[0]) == 9
    assert generated == [{"user": ann, "count": 10}]


def test_disable_removes_the_factor_and_its_codes(app: Flask, ann: User) -> None:
    """disable_mfa deletes the app and the codes, sends mfa_disabled, returns True."""
    _, codes = enrolled(app, ann)
    with recorded(signals.mfa_disabled) as disabled, app.app_context():
        assert disable_mfa(ann) is True
        assert not totp_enabled(ann) and recovery_codes_left(ann) == 0
        with pytest.raises(InvalidCode):
            use_recovery_code(ann, codes[0])
    assert disabled == [{"user": ann}]
    assert raw_rows(app, "bastion_totp_credentials") == []


def test_disable_without_a_factor_returns_false(app: Flask, ann: User) -> None:
    """disable_mfa on a user without a confirmed app returns False and sends nothing."""
    with recorded(signals.mfa_disabled) as disabled, app.app_context():
        enrol_totp(ann)
        assert disable_mfa(ann) is False
    assert disabled == []


def test_rotation_moves_secrets_to_the_new_key(db_url: str, clock: Clock) -> None:
    """With a new key first, rotate_totp_secrets re-encrypts each secret once; then the
    new key alone verifies codes."""
    before = mfa_app(db_url, clock, BASTION_CRYPTO_KEYS=[KEY_OLD])
    ann = add_user(before, "ann@example.com")
    secret, _ = enrolled(before, ann)
    both = mfa_app(db_url, clock, BASTION_CRYPTO_KEYS=[KEY_NEW, KEY_OLD])
    with both.app_context():
        assert rotate_totp_secrets() == 1
        assert rotate_totp_secrets() == 0
    after = mfa_app(db_url, clock, BASTION_CRYPTO_KEYS=[KEY_NEW])
    with after.app_context():
        verify_totp(ann, code_at(secret, STEP0 + 1))
    for each in (before, both, after):
        accounts_state(each).engine.dispose()


def test_secret_under_a_removed_key_fails_loudly(db_url: str, clock: Clock) -> None:
    """A secret under a key no longer in the ring raises DecryptionFailed (an operator's
    mistake, not a wrong code)."""
    before = mfa_app(db_url, clock, BASTION_CRYPTO_KEYS=[KEY_OLD])
    ann = add_user(before, "ann@example.com")
    secret, _ = enrolled(before, ann)
    after = mfa_app(db_url, clock, BASTION_CRYPTO_KEYS=[KEY_NEW])
    with after.app_context(), pytest.raises(DecryptionFailed):
        verify_totp(ann, code_at(secret, STEP0 + 1))
    for each in (before, after):
        accounts_state(each).engine.dispose()
