"""Blinker signals, one per security event, so applications can observe every decision.

Each signal is sent with the Flask application as sender and keyword arguments that
describe the event (always ``reason`` for a rejection). Handlers must not raise.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A request was rejected before reaching the view (malformed input, oversized headers).
#: Keywords: ``reason``, ``status``.
request_rejected = _signals.signal("bastion.request-rejected")
#: Fields of a request failed validation (:mod:`flask_bastion.validation`): a 422.
#: Keywords: ``reason``, ``status``, ``fields`` (the paths of the fields at fault; never
#: a value).
input_rejected = _signals.signal("bastion.input-rejected")

#: A plain-HTTP request was redirected to HTTPS. Keywords: ``location``.
https_redirected = _signals.signal("bastion.https-redirected")

#: :func:`~flask_bastion.sessions.rotate_session` is moving the session to a new ID (login,
#: logout, privilege change); receivers drop what was bound to the old identity, such as
#: the CSRF secret. Sent inside the request, before the rotation. No keywords.
session_rotated = _signals.signal("bastion.session-rotated")

#: A shared store (the session store, the sign-in counters) could not be reached and the
#: request was answered with 503. Keywords: ``reason``, ``status``.
store_unavailable = _signals.signal("bastion.store-unavailable")

#: An unhandled exception became a 500 page. Keywords: ``request_id``, ``exception``.
server_error = _signals.signal("bastion.server-error")

#: A value encrypted at rest could not be decrypted: it was changed or moved in the
#: database, or the key that sealed it is no longer in ``BASTION_CRYPTO_KEYS``. Keywords:
#: ``reason``, ``status`` (500), ``table``, ``column``, ``row_id`` (never the value).
decryption_failed = _signals.signal("bastion.decryption-failed")

#: An unsafe request failed the cross-site request forgery check. Keywords: ``reason``
#: (one of the ``REASON_*`` constants of :mod:`flask_bastion.csrf`), ``status`` (403).
#: Like every signal here, receivers should accept ``**extra``: keywords may be added.
csrf_rejected = _signals.signal("bastion.csrf-rejected")

# Accounts (flask_bastion.accounts). Each is sent with the application as sender and
# ``user`` (the user object, or ``None`` when the account is unknown) plus the keywords
# named; none carries a password or a token.

#: A user signed in. Keywords: ``user``, ``method`` (``"password"``, ``"reset"``...).
user_logged_in = _signals.signal("bastion.user-logged-in")
#: A user signed out. Keywords: ``user``.
user_logged_out = _signals.signal("bastion.user-logged-out")
#: A sign-in failed. Keywords: ``user`` (``None`` when unknown), ``reason``, ``ip``.
login_failed = _signals.signal("bastion.login-failed")
#: An account was locked after too many failures. Keywords: ``user``, ``until`` (Unix
#: time; ``None`` when only an unlock lifts it). The lockout engine, which knows no users,
#: sends ``user=None`` and ``key`` (the account's keyed hash, never the identifier).
account_locked = _signals.signal("bastion.account-locked")
#: A lock was lifted by the emailed link or by an administrator (a lock that lifts by
#: time sends nothing). Keywords: ``user``, ``by`` (``"link"``, ``"admin"``); from the
#: lockout engine ``user=None`` and ``key``, as for :data:`account_locked`.
account_unlocked = _signals.signal("bastion.account-unlocked")
#: One client address failed against many accounts (credential stuffing). Later controls
#: (bans, monitoring) act on it. Keywords: ``ip``, ``accounts`` (distinct identifiers in
#: the window), ``window`` (seconds).
credential_stuffing = _signals.signal("bastion.credential-stuffing")
#: A user registered. Keywords: ``user``.
user_registered = _signals.signal("bastion.user-registered")
#: A user confirmed their email address. Keywords: ``user``.
email_verified = _signals.signal("bastion.email-verified")
#: A user's password changed (by the user or by a reset). Keywords: ``user``, ``reset``.
password_changed = _signals.signal("bastion.password-changed")
#: A password reset was asked for. Keywords: ``user`` (``None`` when unknown).
password_reset_requested = _signals.signal("bastion.password-reset-requested")
#: A user's email address changed. Keywords: ``user``, ``old`` (the previous address).
email_changed = _signals.signal("bastion.email-changed")
#: A user deleted their account. Keywords: ``user``.
account_deleted = _signals.signal("bastion.account-deleted")
#: A personal API token was created. Keywords: ``user``, ``prefix``, ``name``.
api_token_created = _signals.signal("bastion.api-token-created")
#: A personal API token authenticated a request. Keywords: ``user``, ``prefix``.
api_token_used = _signals.signal("bastion.api-token-used")
#: A personal API token was revoked. Keywords: ``user``, ``prefix``.
api_token_revoked = _signals.signal("bastion.api-token-revoked")

# Authorization (flask_bastion.authz).

#: A view or an object was refused to the current user: 403 from a role or permission
#: decorator, 404 from an object policy (answered like a missing object). Keywords:
#: ``reason``, ``status``, ``endpoint``, ``action`` (the object action, ``None`` for a
#: decorator), ``user_id`` (``None`` when anonymous); never the object.
access_denied = _signals.signal("bastion.access-denied")
#: A role was granted to or revoked from a user; the user's other sessions were ended.
#: Keywords: ``user``, ``role``, ``granted`` (``True`` for a grant).
role_changed = _signals.signal("bastion.role-changed")

# Second factors (flask_bastion.mfa).

#: A user confirmed an authenticator app: the second factor is on. Keywords: ``user``,
#: ``method`` (``"totp"``).
mfa_enabled = _signals.signal("bastion.mfa-enabled")
#: A user's second factor was turned off. Keywords: ``user``.
mfa_disabled = _signals.signal("bastion.mfa-disabled")
#: A second-factor code was refused (wrong, malformed or replayed; which, is not said).
#: Keywords: ``user``, ``method`` (``"totp"`` or ``"recovery"``).
mfa_failed = _signals.signal("bastion.mfa-failed")
#: A new set of recovery codes replaced the old one. Keywords: ``user``, ``count``.
recovery_codes_generated = _signals.signal("bastion.recovery-codes-generated")
#: A recovery code was used (and is now spent). Keywords: ``user``, ``remaining``.
recovery_code_used = _signals.signal("bastion.recovery-code-used")
#: An email could not be sent, or was dropped because the background queue was full.
#: Keywords: ``reason`` (the kind of failure, one of the ``REASON_*`` constants of
#: :mod:`flask_bastion.mail`; never the message, the address or a credential),
#: ``status`` (503), ``subject``.
mail_failed = _signals.signal("bastion.mail-failed")

# Content protection (flask_bastion.content).

#: Another site's page embedded a protected image, video, audio file or font, and the
#: request was refused with 403. Keywords: ``reason`` (one of the ``REASON_*``
#: constants of :mod:`flask_bastion.content`), ``status``, ``endpoint``, ``origin`` (the
#: embedding page's origin, ``None`` when it sent no ``Referer``).
hotlink_refused = _signals.signal("bastion.hotlink-refused")
#: A request to a view that needs a signed URL carried none, or one that was tampered
#: with, expired or made for another user; answered with one opaque 403. Keywords:
#: ``reason`` (which of these it was, for the operator only), ``status``, ``endpoint``.
signed_url_rejected = _signals.signal("bastion.signed-url-rejected")

# IP filtering and bans (flask_bastion.ipfilter).

#: A request was refused with a bare 403 because of its client address: a deny list, an
#: allow list it is not in, or a ban. Keywords: ``reason`` (one of the ``REASON_*``
#: constants of :mod:`flask_bastion.ipfilter`), ``status``, ``ip``, ``endpoint``.
ip_refused = _signals.signal("bastion.ip-refused")
#: A network was banned. Keywords: ``network`` (text), ``until`` (Unix time), ``reason``,
#: ``by`` (``"csrf"``, ``"stuffing"``, ``"notfound"``, ``"cli"``, ``"admin:<id>"``...).
ip_banned = _signals.signal("bastion.ip-banned")
#: A ban was lifted before its time. Keywords: ``network``, ``by``.
ip_unbanned = _signals.signal("bastion.ip-unbanned")
#: The ban store could not be read. Keywords: ``reason``, ``fail`` (``"open"``: served
#: with the last ban list read; ``"closed"``: answered 503, with the ``store_unavailable``
#: signal as well).
ban_store_failed = _signals.signal("bastion.ban-store-failed")
# File uploads (flask_bastion.uploads).

#: An uploaded file was refused and nothing of the request's files was kept. Keywords:
#: ``reason`` (one of the ``REASON_*`` constants of :mod:`flask_bastion.uploads`),
#: ``status``, ``file_name`` (as sent, made printable; ``None`` when unknown).
upload_refused = _signals.signal("bastion.upload-refused")
#: ClamAV found malware in an uploaded file, which was refused (422). Keywords:
#: ``reason``, ``status``, ``file_name``, ``signature`` (the name ClamAV gave it).
malware_found = _signals.signal("bastion.malware-found")
#: A file could not be scanned (clamd down, timed out or failing). Keywords: ``reason``,
#: ``accepted`` (``True`` when ``BASTION_UPLOADS_SCAN_FAILURE`` is ``accept`` and the
#: file was stored unscanned).
scan_failed = _signals.signal("bastion.scan-failed")
#: A file was stored. Keywords: ``name`` (the random stored name), ``size``,
#: ``content_type``, ``user_id``, ``scanned`` (whether ClamAV passed it).
upload_stored = _signals.signal("bastion.upload-stored")
# Rate limits (flask_bastion.ratelimit).

#: A request went over a rate limit and was refused with 429. Keywords: ``reason``,
#: ``status``, ``limit`` (such as ``"600/1 minute"``), ``scope`` (``"user"``, ``"ip"``,
#: ``"account"`` or ``"key"``), ``endpoint``.
rate_limited = _signals.signal("bastion.rate-limited")
#: The rate-limit store could not be reached. Keywords: ``reason`` (the kind of
#: failure, never the URL), ``fail`` (``"open"``: the request was served unlimited;
#: ``"closed"``: it was answered 503), ``endpoint``.
ratelimit_store_failed = _signals.signal("bastion.ratelimit-store-failed")
#: A client went over the burst limit of a page budget
#: (:func:`~flask_bastion.ratelimit.page_budget`): many listing or search pages in a few
#: seconds, as a scraper loads them. Later controls (bans, monitoring) act on it.
#: Not sent for a request another site's page made (cross-site Fetch Metadata or a
#: foreign ``Referer``): any page can make its visitors' browsers do that.
#: Keywords: ``ip``, ``user_id`` (``None`` when anonymous), ``endpoint``, ``limit``.
scraping_suspected = _signals.signal("bastion.scraping-suspected")
