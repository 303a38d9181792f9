"""JSON bodies and query strings checked against pydantic models before the view runs.

Defends against:

* **Mass assignment.** A client adds ``"is_admin": true`` or ``"owner_id": 7`` to a body
  and a view that copies the body onto a model row grants it. Every model used with
  :func:`validate` must forbid unknown fields (``extra="forbid"``, which :class:`Schema`
  sets), nested models included: a model that would silently drop or keep an unknown
  field is a :class:`~flask_bastion.exceptions.ConfigurationError` when the view is
  decorated, not a surprise in production.
* **Parser differentials and resource exhaustion.** Duplicate keys (which one wins
  differs between parsers), ``NaN`` and ``Infinity`` (not JSON, and not let in either
  as a number too large for a float, such as ``1e999``), bodies that are not
  UTF-8, nesting deeper than ``max_depth``, arrays longer than ``max_items`` and strings
  longer than ``max_string`` are refused before the model sees them.
* **Hostile text.** Every string is normalised to NFC and refused when it holds a
  control character or a bidirectional override (:mod:`flask_bastion.validation.text`).

A refused body is a 400 (not JSON, not an object) or 422 (fields), an RFC 9457 problem
document whose ``errors`` member maps each field path to its messages, with the
:data:`~flask_bastion.signals.request_rejected` signal and a security log line.
"""

from __future__ import annotations

import json
import math
import types
import typing as t
from collections.abc import Callable

from flask import request
from pydantic import BaseModel, ConfigDict, ValidationError

from ..exceptions import ConfigurationError, InvalidInput, MalformedRequest, UnsupportedBody
from ..guards import guard_view
from ..refusal import refuse
from .text import clean_text, text_problem

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_STRING",
    "REASON_INVALID",
    "REASON_MALFORMED_JSON",
    "REASON_NOT_JSON",
    "REASON_NOT_OBJECT",
    "Schema",
    "validate",
]

#: Defaults of the bounds :func:`validate` applies to every body, whatever the model.
MAX_STRING = 10_000
MAX_ITEMS = 1_000
MAX_DEPTH = 32

REASON_NOT_JSON = "The request body must be JSON (Content-Type: application/json)."
REASON_MALFORMED_JSON = "The request body is not valid JSON."
REASON_NOT_OBJECT = "The request body must be a JSON object."
REASON_INVALID = "Some fields are invalid."

M = t.TypeVar("M", bound=BaseModel)
F = t.TypeVar("F", bound=Callable[..., t.Any])
Errors = dict[str, list[str]]


class Schema(BaseModel):
    """A base for request models: unknown fields are refused, strings are bounded and
    stripped of surrounding white space, and models are immutable once validated."""

    model_config = ConfigDict(
        extra="forbid", str_max_length=MAX_STRING, str_strip_whitespace=True, frozen=True
    )


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, t.Any]]) -> dict[str, t.Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Duplicate
    return result


def _no_constant(name: str) -> t.NoReturn:
    raise ValueError(name)


def _finite(text: str) -> float:
    # ``1e999`` is valid JSON syntax, but Python reads it as infinity: the same value
    # ``Infinity`` names, which :func:`_no_constant` refuses.
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def _open_objects(schema: t.Any) -> t.Iterator[str]:
    """The titles of the objects of a JSON schema that accept unknown properties."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
            yield str(schema.get("title", "object"))
        for value in schema.values():
            yield from _open_objects(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _open_objects(value)


def _require_closed(model: type[BaseModel]) -> None:
    try:
        schema = model.model_json_schema()
    except Exception as exc:  # a model pydantic cannot describe cannot be checked
        raise ConfigurationError(
            model.__name__, f"cannot be checked for unknown fields ({exc.__class__.__name__})."
        ) from None
    open_objects = sorted(set(_open_objects(schema)))
    if open_objects:
        raise ConfigurationError(
            model.__name__,
            "accepts unknown fields in " + ", ".join(open_objects) + ": set "
            "model_config = ConfigDict(extra='forbid') on each model (or derive from "
            "flask_bastion.validation.Schema), so a client cannot assign fields the view "
            "did not expect.",
        )


class _Bounds(t.NamedTuple):
    max_string: int
    max_items: int
    max_depth: int


def _clean(value: t.Any, path: str, bounds: _Bounds, errors: Errors, depth: int = 0) -> t.Any:
    """``value`` with its strings normalised; problems go to ``errors`` by path."""
    if depth > bounds.max_depth:
        errors.setdefault(path or "$", []).append("This value is nested too deeply.")
        return None
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is None:
            value = clean_text(value)  # measured as stored: NFC can lengthen text
            if len(value) > bounds.max_string:
                problem = f"Use at most {bounds.max_string} characters."
        if problem is not None:
            errors.setdefault(path or "$", []).append(problem)
        return value
    if isinstance(value, dict):
        if len(value) > bounds.max_items:
            errors.setdefault(path or "$", []).append(f"Use at most {bounds.max_items} fields.")
            return value
        return {
            _clean_key(key, path, errors): _clean(item, _join(path, key), bounds, errors, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        if len(value) > bounds.max_items:
            errors.setdefault(path or "$", []).append(f"Use at most {bounds.max_items} items.")
            return value
        return [
            _clean(item, _join(path, index), bounds, errors, depth + 1)
            for index, item in enumerate(value)
        ]
    return value


def _clean_key(key: str, path: str, errors: Errors) -> str:
    problem = text_problem(key, multiline=False)
    if problem is not None:
        errors.setdefault(path or "$", []).append("A field name holds control characters.")
    return key


#: The longest field name an error path shows: a client's key is echoed in the 422, the
#: signal and the security log, so a 100 kB key must not be.
MAX_PATH_PART = 64


def _part(key: object) -> str:
    text = str(key)
    return text if len(text) <= MAX_PATH_PART else text[:MAX_PATH_PART] + "..."


def _join(path: str, key: str | int) -> str:
    return f"{path}.{_part(key)}" if path else _part(key)


def _model_errors(exc: ValidationError) -> Errors:
    errors: Errors = {}
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        path = ".".join(_part(part) for part in error["loc"]) or "$"
        message = "Unknown field." if error["type"] == "extra_forbidden" else error["msg"]
        errors.setdefault(path, []).append(message)
    return errors


def _load_body() -> dict[str, t.Any]:
    if not request.mimetype or not (
        request.mimetype == "application/json" or request.mimetype.endswith("+json")
    ):
        refuse(UnsupportedBody(REASON_NOT_JSON))
    try:
        text = request.get_data(cache=True).decode("utf-8")
        data = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        refuse(MalformedRequest(REASON_MALFORMED_JSON))
    if not isinstance(data, dict):
        refuse(MalformedRequest(REASON_NOT_OBJECT))
    return data


def _is_list(annotation: t.Any) -> bool:
    """Whether ``annotation`` takes several values: ``list[str]``, and ``list[str] |
    None`` too (a single ``?kind=a`` is then a list of one, as ``?kind=a&kind=b`` is
    a list of two)."""
    origin = t.get_origin(annotation)
    if origin in (t.Union, types.UnionType):
        return any(_is_list(arg) for arg in t.get_args(annotation))
    return origin in (list, tuple, set, frozenset)


def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        field.alias or name
        for name, field in model.model_fields.items()
        if _is_list(field.annotation)
    )


def _load_query(list_fields: frozenset[str]) -> dict[str, t.Any]:
    return {
        key: values if key in list_fields else values[-1] if len(values) == 1 else values
        for key, values in request.args.lists()
    }


def _check(model: type[M], data: dict[str, t.Any], bounds: _Bounds) -> M:
    errors: Errors = {}
    cleaned = _clean(data, "", bounds, errors)
    if not errors:
        try:
            return model.model_validate(cleaned)
        except ValidationError as exc:
            errors = _model_errors(exc)
    refuse(InvalidInput(REASON_INVALID, errors))


def validate(
    body: type[BaseModel] | None = None,
    *,
    query: type[BaseModel] | None = None,
    max_string: int = MAX_STRING,
    max_items: int = MAX_ITEMS,
    max_depth: int = MAX_DEPTH,
) -> Callable[[F], F]:
    """Check the request's JSON body against ``body`` and its query string against
    ``query`` before the view runs; the view receives the validated models as the
    keyword arguments ``body`` and ``query``::

        class NewNote(Schema):
            title: str = Field(min_length=1, max_length=200)
            body: str = ""

        @app.post("/api/notes")
        @validate(NewNote)
        def create(body: NewNote): ...

    An ``async def`` view works the same way (Flask needs ``asgiref`` for those views,
    ``pip install flask[async]``).

    :param max_string: the longest string anywhere in the body, in characters.
    :param max_items: the most members of any object or array.
    :param max_depth: the deepest nesting of objects and arrays.
    :raises ConfigurationError: when a model (or a model nested in it) accepts unknown
        fields.
    """
    for model in (body, query):
        if model is not None:
            _require_closed(model)
    bounds = _Bounds(max_string, max_items, max_depth)
    list_fields = _list_fields(query) if query is not None else frozenset()

    def check(kwargs: dict[str, t.Any]) -> None:
        if query is not None:
            kwargs["query"] = _check(query, _load_query(list_fields), bounds)
        if body is not None:
            kwargs["body"] = _check(body, _load_body(), bounds)

    def decorator(view: F) -> F:
        return guard_view(view, check)

    return decorator
