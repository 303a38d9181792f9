"""The admin area's ban page, ``/admin/bans``: list the temporary bans, ban an address or
network, lift a ban. Every change goes through Flask-Bastion's one ban API
(:func:`flask_bastion.ipfilter.ban`), so it is signalled, logged and shared with every
worker like a ban from the command line or an automatic one; each is also a
``vault.admin_action`` line naming the administrator.

An administrator cannot ban a network holding the address they are using: that would
lock them out of this very page.
"""

from __future__ import annotations

import time

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from flask_bastion.accounts import current_user
from flask_bastion.exceptions import BanStoreUnavailable, StoreError
from flask_bastion.ipfilter import Ban, ban, bans, client_address, ipfilter_of, unban
from flask_bastion.ipfilter.networks import network_of
from flask_bastion.logs import security_log
from flask_bastion.refusal import refuse

from .admin import admin_required, bp

#: The most bans one page shows (the list may hold thousands); ?q= finds the others.
PAGE_SIZE = 200
#: The durations offered, in seconds, with their labels.
DURATIONS = {3600: "1 hour", 86_400: "1 day", 7 * 86_400: "7 days", 30 * 86_400: "30 days"}


def _matches(entry: Ban, query: str) -> bool:
    """Whether ``entry`` answers ``query``: an address it covers, or text in its network,
    reason or author."""
    address = client_address(query)
    if address is not None:
        return address.version == entry.network.version and address in entry.network
    query = query.lower()
    return any(query in text.lower() for text in (str(entry.network), entry.reason, entry.by))


def _page(error: str | None = None, status: int = 200) -> ResponseReturnValue:
    from flask import current_app

    query = request.args.get("q", "", type=str).strip()[:100]
    try:
        found = bans()
    except StoreError:
        refuse(BanStoreUnavailable())
    if query:
        found = [entry for entry in found if _matches(entry, query)]
    now = ipfilter_of(current_app).bans.clock()
    return render_template(
        "admin/bans.html",
        bans=found[:PAGE_SIZE],
        total=len(found),
        query=query,
        durations=DURATIONS,
        error=error,
        now=now,
    ), status


def _audit(action: str, network: str) -> None:
    security_log.info(
        "vault.admin_action",
        extra={
            "event": "vault.admin_action",
            "action": action,
            "network": network,
            "by": current_user.get_id(),
        },
    )


@bp.get("/bans")
@admin_required
def bans_page() -> ResponseReturnValue:
    """The live bans, soonest to end first (at most :data:`PAGE_SIZE`; ``?q=`` takes an
    address, to find the bans covering it, or text of a network, reason or author), and
    the form to add one."""
    return _page()


@bp.post("/bans")
@admin_required
def add_ban() -> ResponseReturnValue:
    """Ban the network of the form for one of :data:`DURATIONS`."""
    try:
        network = network_of(request.form.get("network", "")[:64])
        duration = int(request.form.get("duration", ""))
    except ValueError as exc:
        return _page(f"Not banned: {exc}", 400)
    if duration not in DURATIONS:
        return _page("Not banned: choose one of the durations offered.", 400)
    mine = client_address(request.remote_addr)
    if mine is not None and mine.version == network.version and mine in network:
        return _page("Not banned: that network holds your own address.", 400)
    reason = request.form.get("reason", "").strip() or "banned by an administrator"
    try:
        made = ban(network, duration, reason, by=f"admin:{current_user.get_id()}")
    except StoreError:
        refuse(BanStoreUnavailable())
    except ValueError as exc:  # '::/0' from an IPv4 address: not theirs, yet every address
        return _page(f"Not banned: {exc}", 400)
    _audit("ban", str(made.network))
    flash(f"Banned {made.network} for {DURATIONS[duration]}.", "success")
    return redirect(url_for("admin.bans_page"), 303)


@bp.post("/bans/lift")
@admin_required
def lift_ban() -> ResponseReturnValue:
    """Lift the ban of the form's network."""
    try:
        network = network_of(request.form.get("network", "")[:64])
    except ValueError as exc:
        return _page(f"Not lifted: {exc}", 400)
    try:
        found = unban(network, by=f"admin:{current_user.get_id()}")
    except StoreError:
        refuse(BanStoreUnavailable())
    if found:
        _audit("unban", str(network))
        flash(f"Lifted the ban of {network}.", "success")
    else:
        flash(f"{network} was not banned.", "info")
    return redirect(url_for("admin.bans_page"), 303)


def until_text(until: float, now: float | None = None) -> str:
    """How long a ban still lasts, roughly: ``"2 h 5 min"``."""
    left = max(0, int(until - (time.time() if now is None else now)))
    days, rest = divmod(left, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes or not parts else []
    return " ".join(parts)
