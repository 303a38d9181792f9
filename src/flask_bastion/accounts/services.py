"""What the accounts views use from the other components: the password policy, mail,
and the sign-in throttle."""

from __future__ import annotations

import typing as t

from flask import current_app

from ..context import get_state

if t.TYPE_CHECKING:
    from .forms import Form


def password_problems(password: str, *, email: str, second_factor: bool = False) -> list[str]:
    """Every rule ``password`` breaks, in plain words (the command line's check)."""
    from ..passwords import password_policy

    policy = password_policy(current_app)
    problems = policy.check(password, context=[email], second_factor=second_factor)
    return [found.message for found in problems]


def check_new_password(
    form: Form, field: str, password: str, *, email: str, second_factor: bool = False
) -> None:
    """Add to ``form`` every rule the new ``password`` breaks, in plain words, as errors
    of ``field`` (the address and the site name are context words it must not contain),
    and, when it breaks one, the strength estimator's advice as hints: guidance for the
    next try, never a rule of its own."""
    from ..passwords import password_policy

    policy = password_policy(current_app)
    problems = policy.check(password, context=[email], second_factor=second_factor)
    for found in problems:
        form.error(field, found.message)
    if problems:
        advice = policy.feedback(password, context=[email])
        hints = [advice.warning, *advice.suggestions] if advice.warning else advice.suggestions
        form.hints[field] = [hint for hint in hints if hint]


def send(to: str, template: str, *, background: bool = True, **context: t.Any) -> None:
    """Render the mail ``template`` (its first line is ``Subject: ...``, then a blank
    line, then the body) and send it to ``to``, from the background worker unless
    ``background`` is false."""
    from ..mail import send_mail

    # Straight from the Jinja environment: the application's context processors are for
    # pages and may need a request, and a mail is often rendered after the response.
    text = current_app.jinja_env.get_template(template).render(**context)
    head, _, body = text.partition("\n\n")
    subject = head.removeprefix("Subject:").strip()
    send_mail(to, subject, body.strip() + "\n", background=background)


#: What the mail after each change of the second factor tells the account's owner.
SECOND_FACTOR_CHANGES = {
    "totp_on": "An authenticator app was set up as the second factor of your account.",
    "totp_off": "The second factor of your account was turned off: the authenticator app "
    "and the recovery codes were removed.",
    "codes": "New recovery codes were made for your account; the old ones no longer work.",
    "passkey_added": "A passkey was added to your account.",
    "passkey_deleted": "A passkey was removed from your account.",
    "reset": "An administrator removed every second factor of your account: the "
    "authenticator app, the recovery codes and the passkeys.",
}


def notify_second_factor(user: t.Any, change: str) -> None:
    """Mail ``user`` that their second factor changed (a key of
    :data:`SECOND_FACTOR_CHANGES`): whoever took over a session or a password and swaps
    the factor is then seen by the owner, not only by the log."""
    send(
        user.email,
        "bastion/accounts/mail/second_factor_changed.txt",
        change=SECOND_FACTOR_CHANGES[change],
    )


def throttle_for() -> t.Any:
    """The sign-in throttle of the current application."""
    return get_state(current_app).component("lockout").throttle


def mail_allowed(address: str) -> bool:
    """Whether one more mail that anyone can cause may go to ``address`` (a reset link,
    "someone used your address", a new verification or change-of-address link): without
    a limit, a loop on the forgotten-password form floods a mailbox from this site, and
    keeps voiding the link its owner asked for."""
    return bool(throttle_for().allow_mail(address))
