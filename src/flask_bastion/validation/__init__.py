"""Input validation: JSON bodies against pydantic models (:func:`validate`), HTML forms
with WTForms (:class:`Form`), and the text rules both apply (one Unicode form, no control
characters, bounded lengths). See docs/validation.md.

Needs the ``validation`` extra: ``pip install flask-bastion[validation]``.
"""

from __future__ import annotations

from .body import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_STRING,
    REASON_INVALID,
    REASON_MALFORMED_JSON,
    REASON_NOT_JSON,
    REASON_NOT_OBJECT,
    Schema,
    validate,
)
from .forms import MAX_FIELD, REASON_FORM, REPEATED_FIELD, UNKNOWN_FIELD, BastionCSRF, Form
from .text import BIDI_CONTROLS, CONTROL_CHARACTER, LONE_SURROGATE, clean_text, text_problem

__all__ = [
    "BIDI_CONTROLS",
    "CONTROL_CHARACTER",
    "LONE_SURROGATE",
    "MAX_DEPTH",
    "MAX_FIELD",
    "MAX_ITEMS",
    "MAX_STRING",
    "REASON_FORM",
    "REASON_INVALID",
    "REASON_MALFORMED_JSON",
    "REASON_NOT_JSON",
    "REASON_NOT_OBJECT",
    "REPEATED_FIELD",
    "UNKNOWN_FIELD",
    "BastionCSRF",
    "Form",
    "Schema",
    "clean_text",
    "text_problem",
    "validate",
]
