"""The check registry: message declarations, registration and the run.

Each check module declares its messages with :func:`message` (a stable ID, a hint and
the settings the message concerns) and its checks with :func:`register`. Nothing in the
request pipeline imports this package: the checks read the validated configuration that
``init_app`` stored, and :func:`run_checks` fetches it only when it runs, so that no
protection module depends on the checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from flask import Flask

from ..config import PREFIX, BastionConfig
from ..config import settings as setting_infos
from ..context import get_state
from ..markers import marked_views

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
LEVELS = {"DEBUG": DEBUG, "INFO": INFO, "WARNING": WARNING, "ERROR": ERROR, "CRITICAL": CRITICAL}
_LEVEL_NAMES = {value: name for name, value in LEVELS.items()}

#: Keys a message may name: every ``BASTION_*`` setting and Flask's own configuration.
#: The settings feed the "Related checks" links of the configuration reference, so a
#: misspelt key would silently drop a link; it raises at import instead.
_KNOWN_KEYS = frozenset(info.key for info in setting_infos()) | frozenset(Flask.default_config)


@dataclass(frozen=True)
class CheckMessage:
    """One finding: severity, what is wrong, how to fix it, a stable ID, and the
    configuration keys it concerns."""

    level: int
    msg: str
    hint: str
    id: str
    #: Configuration keys (``BASTION_*`` or Flask's) the finding is about.
    settings: tuple[str, ...] = ()
    #: What the finding is about when it is not the whole application: a view's
    #: endpoint. Silence one object with ``"bastion.W024:endpoint"``.
    obj: str = ""

    def about(self, obj: str) -> CheckMessage:
        """This message, about ``obj`` (a view's endpoint)."""
        return replace(self, obj=obj)

    @property
    def level_name(self) -> str:
        return _LEVEL_NAMES.get(self.level, str(self.level))

    def __str__(self) -> str:
        about = f"{self.obj}: " if self.obj else ""
        return f"{self.id}: ({self.level_name}) {about}{self.msg}\n\tHINT: {self.hint}"


Check = Callable[[Flask, BastionConfig], Iterable[CheckMessage]]
_registry: list[tuple[Check, bool]] = []
_catalogue: dict[str, CheckMessage] = {}


def message(
    level: int, msg: str, hint: str, id: str, *, settings: Iterable[str] = ()
) -> CheckMessage:
    """Declare a check message.

    :param settings: the configuration keys the message concerns, ``BASTION_*`` or
        Flask's (``SECRET_KEY``); the configuration reference links the message from each.
    :raises ValueError: when ``id`` was used before, or a key is not a known setting.
    """
    if id in _catalogue:
        raise ValueError(f"check ID {id} is already used")
    keys = tuple(settings)
    for key in keys:
        if key not in _KNOWN_KEYS:
            kind = "Flask-Bastion" if key.startswith(PREFIX) else "Flask"
            raise ValueError(f"check {id} names {key}, which is not a {kind} setting")
    found = _catalogue[id] = CheckMessage(level, msg, hint, id, keys)
    return found


def about_marked_views(app: Flask, mark: str, message: CheckMessage) -> list[CheckMessage]:
    """``message`` about each view of ``app`` that carries ``mark``, by endpoint."""
    return [message.about(str(view.endpoint)) for view in marked_views(app) if view.get(mark)]


def register(*, deploy: bool = False) -> Callable[[Check], Check]:
    """Register a check; ``deploy=True`` runs it only for ``check --deploy``."""

    def decorator(check: Check) -> Check:
        _registry.append((check, deploy))
        return check

    return decorator


def run_checks(
    app: Flask, *, deploy: bool = False, include_silenced: bool = False
) -> list[CheckMessage]:
    """Run every registered check against ``app`` (initialised with Flask-Bastion)."""
    config = get_state(app).config
    silenced = set(config.core.silenced_checks)
    messages = [m for check, d in _registry if deploy or not d for m in check(app, config)]
    if include_silenced:
        return messages
    return [m for m in messages if m.id not in silenced and f"{m.id}:{m.obj}" not in silenced]


def catalogue() -> list[CheckMessage]:
    """Every declared check message, ordered by ID number."""
    return sorted(_catalogue.values(), key=lambda m: m.id[9:])
