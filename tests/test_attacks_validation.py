"""Attacks on input validation: numbers that overflow to infinity, parameter pollution in
forms, line separators in one-line fields, and fields nested in FieldList/FormField that
escaped the rules (or were refused as unknown)."""

from __future__ import annotations

import typing as t

import pytest
import wtforms
from flask import Flask
from pydantic import AliasChoices, Field
from werkzeug.datastructures import MultiDict

from flask_bastion import Bastion, signals
from flask_bastion.validation import (
    CONTROL_CHARACTER,
    MAX_FIELD,
    REASON_MALFORMED_JSON,
    REPEATED_FIELD,
    Form,
    Schema,
    text_problem,
    validate,
)

from .conftest import SECRET
from .test_validation import BASE, SAME_ORIGIN, csrf_from, post_json


class Measure(Schema):
    value: float = 0


class Address(wtforms.Form):
    street = wtforms.StringField("Street")


class TaggedForm(Form):
    title = wtforms.StringField("Title")
    tags = wtforms.FieldList(wtforms.StringField("Tag"))
    address = wtforms.FormField(Address)
    count = wtforms.IntegerField("Count", [wtforms.validators.Optional()])
    colours = wtforms.SelectMultipleField("Colours", choices=["red", "blue"])


def make_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"], BASTION_SESSIONS_STORE="memory"
    )
    Bastion(app)

    @app.post("/api/measure")
    @validate(Measure)
    def measure(body: Measure) -> dict[str, t.Any]:
        return {"value": repr(body.value)}

    @app.route("/tagged", methods=["GET", "POST"])
    def tagged() -> tuple[dict[str, t.Any], int]:
        form = TaggedForm()
        if form.validate():
            return {"data": form.data}, 200
        token = form.meta.csrf_class().generate_csrf_token(None)
        page = f'<input name="csrf_token" type="hidden" value="{token}">'
        return {"errors": {str(k): v for k, v in form.errors.items()}, "page": page}, 422

    return app


@pytest.fixture
def app() -> Flask:
    return make_app()


def post_form(app: Flask, data: t.Any) -> t.Any:
    client = app.test_client()
    name, token = csrf_from(client.get(BASE + "/tagged").json["page"])
    form = MultiDict(data)
    form.add(name, token)
    return client.post(BASE + "/tagged", data=form, headers=SAME_ORIGIN)


@pytest.mark.parametrize("number", ["1e999", "-1e400", "1E+309"], ids=["inf", "-inf", "exp"])
def test_a_number_that_overflows_to_infinity_is_refused(app: Flask, number: str) -> None:
    """``1e999`` is JSON syntax but reads as Infinity: a 400, like ``Infinity`` itself."""
    response = post_json(app, "/api/measure", '{"value": ' + number + "}")
    assert response.status_code == 400
    assert response.json["detail"] == REASON_MALFORMED_JSON


def test_a_large_finite_number_is_still_a_number(app: Flask) -> None:
    """The refusal is of non-finite values only."""
    response = post_json(app, "/api/measure", '{"value": 1.5e308}')
    assert response.status_code == 200
    assert response.json == {"value": "1.5e+308"}


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"], ids=["line", "paragraph"])
def test_unicode_line_separators_are_refused_in_one_line_text(separator: str) -> None:
    """U+2028/U+2029 break lines in JavaScript and log viewers: one-line text refuses them."""
    assert text_problem(f"a{separator}b", multiline=False) == CONTROL_CHARACTER
    assert text_problem(f"a{separator}b", multiline=True) is None


def test_a_form_field_sent_twice_is_refused(app: Flask) -> None:
    """``title=a&title=b``: WTForms keeps the first, other readers the last; refused."""
    received: list[dict[str, t.Any]] = []

    def receiver(sender: Flask, **extra: t.Any) -> None:
        received.append(extra)

    with signals.input_rejected.connected_to(receiver, sender=app):
        response = post_form(app, [("title", "harmless"), ("title", "other")])
    assert response.status_code == 422
    assert response.json["errors"] == {"title": [REPEATED_FIELD]}
    assert received[-1]["fields"] == ["title"]


def test_a_number_field_sent_twice_is_refused_and_a_multiple_select_is_not(app: Flask) -> None:
    """Every one-value field is sent once; a multiple select takes several values."""
    response = post_form(app, [("title", "t"), ("count", "1"), ("count", "1000")])
    assert response.json["errors"] == {"count": [REPEATED_FIELD]}
    response = post_form(app, [("title", "t"), ("colours", "red"), ("colours", "blue")])
    assert response.status_code == 200, response.json
    assert response.json["data"]["colours"] == ["red", "blue"]


def test_fields_of_a_field_list_and_a_form_field_are_declared(app: Flask) -> None:
    """``tags-0`` and ``address-street`` are the form's own fields, not unknown ones."""
    response = post_form(
        app, [("title", "t"), ("tags-0", "Cafe\u0301"), ("tags-1", "b"), ("address-street", "x")]
    )
    assert response.status_code == 200, response.json
    assert response.json["data"]["tags"] == ["Café", "b"]
    assert response.json["data"]["address"] == {"street": "x"}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param("tags-0", "x\u202egnp.exe", CONTROL_CHARACTER, id="bidi-in-list"),
        pytest.param("address-street", "a\nb", CONTROL_CHARACTER, id="line-break-in-subform"),
        pytest.param("tags-0", "x" * (MAX_FIELD + 1), "longer than", id="unbounded-in-list"),
    ],
)
def test_nested_fields_follow_the_text_rules(
    app: Flask, name: str, value: str, message: str
) -> None:
    """A field inside a FieldList or FormField is checked like a top-level one."""
    response = post_form(app, [("title", "t"), (name, value)])
    assert response.status_code == 422
    assert message in str(response.json["errors"])


def test_a_huge_unknown_field_name_is_not_echoed_whole(app: Flask) -> None:
    """The 422, the signal and the log name an unknown field by its first characters."""
    received: list[dict[str, t.Any]] = []

    def receiver(sender: Flask, **extra: t.Any) -> None:
        received.append(extra)

    with signals.input_rejected.connected_to(receiver, sender=app):
        response = post_json(app, "/api/measure", {"k" * 100_000: 1})
    assert response.status_code == 422
    assert len(response.data) < 1_000
    assert list(response.json["errors"]) == ["k" * 64 + "..."]
    assert received[-1]["fields"] == ["k" * 64 + "..."]


def test_a_length_maximum_bounds_the_normalised_text() -> None:
    """Five U+FB2C are fifteen code points once normalised: Length(max=5) refuses them
    (the value that would be stored), where it used to count the five sent."""
    app = make_app()

    @app.post("/short")
    def short() -> tuple[dict[str, t.Any], int]:
        form = Short()
        return {"errors": form.errors if not form.validate() else {}}, 200

    client = app.test_client()
    name, token = csrf_from(client.get(BASE + "/tagged").json["page"])
    response = client.post(
        BASE + "/short", data={name: token, "title": "\ufb2c" * 5}, headers=SAME_ORIGIN
    )
    assert list(response.json["errors"]) == ["title"]


class Short(Form):
    title = wtforms.StringField("Title", [wtforms.validators.Length(max=5)])


def test_max_string_bounds_the_normalised_text() -> None:
    """Four U+FB2C are twelve code points once normalised: past max_string=10."""
    app = make_app()

    @app.post("/api/tiny")
    @validate(Measure, max_string=10)
    def tiny(body: Measure) -> dict[str, t.Any]:
        return {}

    response = post_json(app, "/api/tiny", '{"value": 1, "x": "' + "\ufb2c" * 4 + '"}')
    assert response.status_code == 422
    assert response.json["errors"] == {"x": ["Use at most 10 characters."]}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param('\ufeff{"value": 1}'.encode(), id="byte-order-mark"),
        pytest.param(b'{"value": 1, "x": "\xed\xa0\x80"}', id="utf8-encoded-surrogate"),
        pytest.param(b'{"value": 1, "x": "\xc0\xaf"}', id="overlong-utf8"),
        pytest.param('{"value": 1, "n": {"a": 1, "a": 2}}', id="nested-duplicate-key"),
    ],
)
def test_bodies_other_parsers_read_differently_are_400(app: Flask, data: str | bytes) -> None:
    """Bytes some parsers accept and others refuse or read otherwise: one 400."""
    response = post_json(app, "/api/measure", data)
    assert response.status_code == 400
    assert response.json["detail"] == REASON_MALFORMED_JSON


class Filters(Schema):
    kind: list[str] | None = None


def test_one_value_of_an_optional_list_parameter_is_a_list_of_one() -> None:
    """``?kind=a`` for ``list[str] | None`` is ``["a"]``, as ``?kind=a&kind=b`` is two."""
    app = make_app()

    @app.get("/api/filter")
    @validate(query=Filters)
    def filtered(query: Filters) -> dict[str, t.Any]:
        return query.model_dump()

    client = app.test_client()
    one = client.get(BASE + "/api/filter?kind=a", headers={"Accept": "application/json"})
    assert (one.status_code, one.json) == (200, {"kind": ["a"]})
    two = client.get(BASE + "/api/filter?kind=a&kind=b", headers={"Accept": "application/json"})
    assert two.json == {"kind": ["a", "b"]}


class ByEitherName(Schema):
    user_name: str = Field(default="", validation_alias=AliasChoices("user_name", "userName"))


def test_a_field_sent_under_its_name_and_its_alias_is_refused() -> None:
    """``{"user_name": .., "userName": ..}``: which one wins would differ between readers;
    the second is an unknown field."""
    app = make_app()

    @app.post("/api/alias")
    @validate(ByEitherName)
    def alias(body: ByEitherName) -> dict[str, t.Any]:
        return body.model_dump()

    response = post_json(app, "/api/alias", {"user_name": "ann", "userName": "admin"})
    assert response.status_code == 422
    assert response.json["errors"] == {"userName": ["Unknown field."]}
