"""Error handling checks (``07x``): safe error pages switched off, and request bodies
without a size limit.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from .registry import WARNING, CheckMessage, message, register

W071 = message(
    WARNING,
    "Safe error pages are off (BASTION_ERRORS_ENABLED).",
    "Error responses would not carry a request ID and may show framework details.",
    "bastion.W071",
    settings=("BASTION_ERRORS_ENABLED",),
)
W072 = message(
    WARNING,
    "MAX_CONTENT_LENGTH is not set: request bodies are unbounded.",
    "Do not reset MAX_CONTENT_LENGTH to None; raise it for the views that need more.",
    "bastion.W072",
    settings=("MAX_CONTENT_LENGTH", "BASTION_INPUTS_MAX_CONTENT_LENGTH"),
)


@register(deploy=True)
def check_errors_enabled(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.errors.enabled else [W071]


@register()
def check_body_limit(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W072] if app.config.get("MAX_CONTENT_LENGTH") is None else []
