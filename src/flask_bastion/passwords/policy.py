"""The password policy of NIST SP 800-63B-4: length, a blocklist, nothing else.

Defends against guessable passwords without the rules that make people choose worse ones.
A new password must be long enough (15 characters, or 8 for an account with a second
factor), may be long (1,024 characters), may hold any Unicode character and spaces, and
must not be a common password, one repeated block or alphabet run, a word from the
user's own context (address, user name, the site's name) or, when a range API is
configured, a password from a breach corpus. There are no composition rules ("a digit and
a symbol") and no expiry: section 3.1.1.2 of the guideline forbids both, since they make
passwords more predictable, not less.

Every rule is checked and every failure reported at once, in plain words, so that a user
fixes everything in one go. Strength feedback from zxcvbn is guidance shown beside the
form and never a rule. Lengths count code points after NFKC normalisation, the form the
hasher stores. See docs/passwords.md.
"""

from __future__ import annotations

import re
import typing as t
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from ..logs import security_log
from . import blocklist
from .breached import BreachedCheckFailed, BreachedPasswords
from .hashing import MAX_PASSWORD_LENGTH, PasswordError, PasswordRefused

if t.TYPE_CHECKING:
    from flask import Flask

    from ..config import PasswordsConfig

__all__ = [
    "BREACHED",
    "BREACHED_UNAVAILABLE",
    "COMMON",
    "CONTEXT",
    "REPETITIVE",
    "TOO_LONG",
    "TOO_SHORT",
    "Feedback",
    "PasswordPolicy",
    "PasswordRejected",
    "Problem",
    "password_policy",
]

#: Problem codes: stable, for templates and tests that must not match on wording.
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
COMMON = "common"
REPETITIVE = "repetitive"
CONTEXT = "context"
BREACHED = "breached"
BREACHED_UNAVAILABLE = "breached_unavailable"

#: NIST SP 800-63B-4: at least 15 characters for a password used alone, 8 when it is
#: one factor of two, and at least 64 accepted.
DEFAULT_MIN_LENGTH = 15
DEFAULT_MIN_LENGTH_SECOND_FACTOR = 8
LEAST_MAX_LENGTH = 64
#: Context words shorter than this are not looked for: "bob" or "io" would refuse far too
#: many good passwords.
MIN_CONTEXT_WORD = 4
#: zxcvbn's cost grows quickly with the length, and it refuses more than 72 characters
#: (its own default bound): it scores at most this many.
FEEDBACK_MAX_CHARS = 72

FAIL_OPEN = "open"
FAIL_CLOSED = "closed"

_WORD_SPLIT_RE = re.compile(r"[\W_]+")

_COMMON_MESSAGE = "This is one of the most common passwords. Choose another."
_REPETITIVE_MESSAGE = (
    "Avoid a password that is one character or a short pattern repeated, or a sequence "
    "such as 'abcdef' or '123456'."
)
_CONTEXT_MESSAGE = (
    "Do not use your email address, your user name or the name of this site in your password."
)
_BREACHED_MESSAGE = "This password has appeared in a data breach. Choose another."
_UNAVAILABLE_MESSAGE = "We could not check this password right now; try again shortly."


@dataclass(frozen=True)
class Problem:
    """One rule a password breaks: a stable :attr:`code` and a :attr:`message` in plain
    words for the user. Neither holds any part of the password."""

    code: str
    message: str


@dataclass(frozen=True)
class Feedback:
    """zxcvbn's estimate, as guidance: :attr:`score` from 0 (guessed at once) to 4 (very
    hard to guess), a :attr:`warning` (may be empty) and :attr:`suggestions`."""

    score: int
    warning: str
    suggestions: tuple[str, ...]


class PasswordRejected(PasswordError, ValueError):
    """A new password breaks the policy. :attr:`problems` lists every rule it breaks; the
    message joins their messages and never holds the password."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(" ".join(problem.message for problem in self.problems))


def context_words(context: Iterable[str]) -> frozenset[str]:
    """The folded words of ``context`` a password must not contain: each item whole and
    split at every character that is not a letter or a digit; an email address gives its
    local part and the labels of its domain except the last (``com``). Words shorter
    than :data:`MIN_CONTEXT_WORD` are dropped."""
    words: set[str] = set()
    for item in context:
        folded = blocklist.fold(item).strip()
        local, at, domain = folded.rpartition("@")
        if at:
            parts = [local, *_WORD_SPLIT_RE.split(local), *domain.split(".")[:-1]]
        else:
            parts = [folded, *_WORD_SPLIT_RE.split(folded)]
        words.update(part for part in parts if len(part) >= MIN_CONTEXT_WORD)
    return frozenset(words)


class PasswordPolicy:
    """Check new passwords against NIST SP 800-63B-4.

    :param min_length: the fewest characters of a password used alone.
    :param min_length_second_factor: the fewest for an account with a second factor
        (never more than ``min_length``).
    :param max_length: the most characters accepted, from 64 to 1,024.
    :param blocklist: refuse the shipped common passwords and repetitive ones.
    :param site_name: the site's name: a context word of every check.
    :param breached: a :class:`BreachedPasswords` to ask, or ``None``.
    :param breached_fail: ``"open"`` (a password is accepted when the range API cannot be
        asked) or ``"closed"`` (it is refused with :data:`BREACHED_UNAVAILABLE`).
    :raises ValueError: for lengths out of these bounds or an unknown fail mode.

    .. danger::
        ``blocklist=False`` accepts "123456789012345"; a ``min_length`` below 15 (8 with a
        second factor) goes below the guideline.
    """

    def __init__(
        self,
        *,
        min_length: int = DEFAULT_MIN_LENGTH,
        min_length_second_factor: int = DEFAULT_MIN_LENGTH_SECOND_FACTOR,
        max_length: int = MAX_PASSWORD_LENGTH,
        blocklist: bool = True,
        site_name: str | None = None,
        breached: BreachedPasswords | None = None,
        breached_fail: str = FAIL_OPEN,
    ) -> None:
        if not LEAST_MAX_LENGTH <= max_length <= MAX_PASSWORD_LENGTH:
            raise ValueError(f"max_length must be from {LEAST_MAX_LENGTH} to 1024")
        if not 1 <= min_length <= LEAST_MAX_LENGTH or min_length_second_factor < 1:
            raise ValueError(f"the minimum lengths must be from 1 to {LEAST_MAX_LENGTH}")
        if breached_fail not in (FAIL_OPEN, FAIL_CLOSED):
            raise ValueError("breached_fail must be 'open' or 'closed'")
        self.min_length = min_length
        self.min_length_second_factor = min(min_length_second_factor, min_length)
        self.max_length = max_length
        self.blocklist = blocklist
        self.site_words = context_words([site_name] if site_name else [])
        self.breached = breached
        self.breached_fail = breached_fail

    @classmethod
    def from_config(cls, config: PasswordsConfig, *, site_name: str | None = None) -> t.Self:
        """A policy from the ``BASTION_PASSWORDS_*`` settings; ``site_name`` stands in
        for an unset ``SITE_NAME``."""
        breached = None
        if config.breached_url is not None:
            breached = BreachedPasswords(config.breached_url, timeout=config.breached_timeout)
        return cls(
            min_length=config.min_length,
            min_length_second_factor=config.min_length_second_factor,
            max_length=config.max_length,
            blocklist=config.blocklist,
            site_name=config.site_name or site_name,
            breached=breached,
            breached_fail=config.breached_fail,
        )

    def check(
        self, password: str, *, context: Iterable[str] = (), second_factor: bool = False
    ) -> list[Problem]:
        """Every rule ``password`` breaks; an empty list when it may be used.

        :param context: what the user is known by: email addresses, user names. Their
            words (and the site's name) must not appear in the password.
        :param second_factor: the account has a second factor, so the shorter minimum
            applies.
        :raises PasswordRefused: for a non-string, before anything else.
        """
        if not isinstance(password, str):
            raise PasswordRefused("The password must be a string.")
        if len(password) > MAX_PASSWORD_LENGTH:
            # Never normalise megabytes: this is the hasher's own bound.
            return [self._too_long()]
        normalised = unicodedata.normalize("NFKC", password)
        length = len(normalised)
        problems = []
        least = self.min_length_second_factor if second_factor else self.min_length
        if length < least:
            problems.append(Problem(TOO_SHORT, f"Use at least {least} characters."))
        if length > self.max_length:
            problems.append(self._too_long())
        folded = blocklist.fold(normalised)
        common = self.blocklist and blocklist.is_common(folded)
        if common:
            problems.append(Problem(COMMON, _COMMON_MESSAGE))
        elif self.blocklist and blocklist.is_repetitive(folded):
            problems.append(Problem(REPETITIVE, _REPETITIVE_MESSAGE))
        if any(word in folded for word in self.site_words | context_words(context)):
            problems.append(Problem(CONTEXT, _CONTEXT_MESSAGE))
        # A common password is in every breach corpus: one message says it, and the
        # range API is not asked about a password that is refused already for that.
        if self.breached is not None and not common and length <= self.max_length:
            problems.extend(self._breached(self.breached, normalised))
        return problems

    def validate(
        self, password: str, *, context: Iterable[str] = (), second_factor: bool = False
    ) -> None:
        """Return when ``password`` may be used.

        :raises PasswordRejected: listing every rule it breaks.
        """
        problems = self.check(password, context=context, second_factor=second_factor)
        if problems:
            raise PasswordRejected(problems)

    def feedback(self, password: str, context: Iterable[str] = ()) -> Feedback:
        """zxcvbn's strength estimate of ``password``, with ``context`` and the site's
        name as the user's own words. Guidance only: :meth:`check` decides.

        Only the first :data:`FEEDBACK_MAX_CHARS` characters are scored, and a password
        longer than the maximum is not scored at all (score 0).
        """
        normalised = unicodedata.normalize("NFKC", password[: self.max_length + 1])
        if len(normalised) > self.max_length:
            return Feedback(0, "", (self._too_long().message,))
        from zxcvbn import zxcvbn  # a large module: imported on first use

        words = sorted(self.site_words | context_words(context))
        result = zxcvbn(normalised[:FEEDBACK_MAX_CHARS], user_inputs=words)
        advice = result["feedback"]
        return Feedback(
            score=int(result["score"]),
            warning=str(advice.get("warning") or ""),
            suggestions=tuple(str(line) for line in advice.get("suggestions", ())),
        )

    def _too_long(self) -> Problem:
        return Problem(TOO_LONG, f"Use at most {self.max_length} characters.")

    def _breached(self, checker: BreachedPasswords, normalised: str) -> list[Problem]:
        try:
            found = checker.count(normalised)
        except BreachedCheckFailed as exc:
            security_log.warning(
                "The breached-password check failed (fail %s): %s",
                self.breached_fail,
                exc,
                extra={"event": "password.breached_check_failed"},
            )
            if self.breached_fail == FAIL_CLOSED:
                return [Problem(BREACHED_UNAVAILABLE, _UNAVAILABLE_MESSAGE)]
            return []
        return [Problem(BREACHED, _BREACHED_MESSAGE)] if found else []


#: Key of the cached policy in ``app.extensions``.
_EXTENSION_KEY = "bastion.password_policy"


def password_policy(app: Flask | None = None) -> PasswordPolicy:
    """The :class:`PasswordPolicy` of ``app`` (default: the current application), built
    from its ``BASTION_PASSWORDS_*`` settings on the first call and kept on the app.
    Without ``BASTION_PASSWORDS_SITE_NAME``, the application's name is the site's name."""
    from flask import current_app

    from ..context import get_state  # the context imports Flask machinery

    if app is None:
        app = t.cast("Flask", current_app._get_current_object())  # type: ignore[attr-defined]
    policy = app.extensions.get(_EXTENSION_KEY)
    if policy is None:
        section = get_state(app).config.passwords
        name = None if app.name.startswith("_") else app.name
        policy = app.extensions[_EXTENSION_KEY] = PasswordPolicy.from_config(
            section, site_name=name
        )
    return t.cast(PasswordPolicy, policy)
