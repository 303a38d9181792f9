"""Input validation: JSON bodies against pydantic models, HTML forms with WTForms, and the
text rules (NFC, no control characters, bounded sizes) both apply."""

from __future__ import annotations

import json
import typing as t

import pytest
import wtforms
from flask import Flask, render_template_string, request
from pydantic import BaseModel, ConfigDict, Field

from flask_bastion import Bastion, ConfigurationError, signals
from flask_bastion.csrf import csrf_exempt
from flask_bastion.validation import (
    CONTROL_CHARACTER,
    LONE_SURROGATE,
    MAX_FIELD,
    REASON_INVALID,
    REASON_MALFORMED_JSON,
    REASON_NOT_JSON,
    REASON_NOT_OBJECT,
    Form,
    Schema,
    clean_text,
    text_problem,
    validate,
)

from .conftest import SECRET

BASE = "https://localhost"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


class Tag(Schema):
    name: str = Field(min_length=1, max_length=20)


class NewNote(Schema):
    title: str = Field(min_length=1, max_length=50)
    body: str = ""
    tags: list[Tag] = []


class Page(Schema):
    q: str = ""
    page: int = Field(default=1, ge=1, le=100)
    kind: list[str] = []


class NoteForm(Form):
    title = wtforms.StringField("Title", [wtforms.validators.InputRequired()])
    body = wtforms.TextAreaField("Body")


class ShortForm(Form):
    title = wtforms.StringField("Title", [wtforms.validators.Length(max=5)])


def make_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"], BASTION_SESSIONS_STORE="memory"
    )
    Bastion(app)

    @app.post("/api/notes")
    @validate(NewNote)
    def create(body: NewNote) -> dict[str, t.Any]:
        return body.model_dump()

    @app.get("/api/search")
    @validate(query=Page)
    def search(query: Page) -> dict[str, t.Any]:
        return query.model_dump()

    @app.post("/api/async/notes")
    @validate(NewNote, query=Page)
    async def create_async(body: NewNote, query: Page) -> dict[str, t.Any]:
        return {"body": body.model_dump(), "query": query.model_dump()}

    @app.post("/api/bounded")
    @validate(NewNote, max_items=3, max_depth=2, max_string=30)
    def bounded(body: NewNote) -> dict[str, t.Any]:
        return body.model_dump()

    @app.route("/notes/new", methods=["GET", "POST"])
    def new_note() -> tuple[str, int] | dict[str, t.Any]:
        form = NoteForm()
        if request.method == "POST" and form.validate():
            return {"title": form.title.data, "body": form.body.data}
        page = render_template_string(
            "<form method=post>{{ form.csrf_token }}{{ form.title }}{{ form.body }}</form>"
            "{% for name, errors in form.errors.items() %}<p>{{ name }}: {{ errors }}</p>"
            "{% endfor %}",
            form=form,
        )
        return page, 422 if request.method == "POST" else 200

    @app.post("/exempt")
    @csrf_exempt
    def exempt() -> tuple[dict[str, t.Any], int]:
        form = NoteForm()
        status = 200 if form.validate() else 422
        return {"errors": {str(k): v for k, v in form.errors.items()}}, status

    @app.post("/short")
    def short() -> tuple[dict[str, t.Any], int]:
        form = ShortForm()
        status = 200 if form.validate() else 422
        return {"errors": form.errors}, status

    return app


@pytest.fixture
def app() -> Flask:
    return make_app()


def post_json(app: Flask, path: str, body: t.Any, **headers: str) -> t.Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return app.test_client().post(
        BASE + path,
        data=data,
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
    )


# -- text rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "multiline", "expected"),
    [
        pytest.param("plain text", True, None, id="plain"),
        pytest.param("two\nlines\tand tab\r\n", True, None, id="multiline-whitespace"),
        pytest.param("two\nlines", False, CONTROL_CHARACTER, id="line-break-in-one-line"),
        pytest.param("nul\x00byte", True, CONTROL_CHARACTER, id="nul"),
        pytest.param("escape\x1b[31m", True, CONTROL_CHARACTER, id="ansi-escape"),
        pytest.param("c1\x85control", True, CONTROL_CHARACTER, id="c1"),
        pytest.param("admin\u202egnp.exe", True, CONTROL_CHARACTER, id="bidi-override"),
        pytest.param("isolate\u2066x\u2069", True, CONTROL_CHARACTER, id="bidi-isolate"),
        pytest.param("lone\ud800", True, LONE_SURROGATE, id="lone-surrogate"),
        pytest.param("emoji 👩\u200d💻", True, None, id="zwj-emoji"),
    ],
)
def test_text_rules(value: str, multiline: bool, expected: str | None) -> None:
    """Control characters, bidi controls and lone surrogates are refused; the rest passes."""
    assert text_problem(value, multiline=multiline) == expected


def test_text_is_normalised_to_nfc() -> None:
    """A decomposed accent becomes one code point; compatibility forms stay."""
    assert clean_text("e\u0301t\u00e9") == "\u00e9t\u00e9"
    assert clean_text("x²") == "x²"


# -- JSON bodies ------------------------------------------------------------------------


def test_a_valid_body_reaches_the_view_as_a_model(app: Flask) -> None:
    """The view gets the validated, normalised model."""
    response = post_json(app, "/api/notes", {"title": " Cafe\u0301 ", "tags": [{"name": "a"}]})
    assert response.status_code == 200
    assert response.json == {"title": "Café", "body": "", "tags": [{"name": "a"}]}


def test_unknown_fields_are_refused(app: Flask) -> None:
    """Mass assignment: a field the model does not declare is a 422, nested ones too."""
    received: list[dict[str, t.Any]] = []

    def receiver(sender: Flask, **extra: t.Any) -> None:
        received.append(extra)

    with signals.input_rejected.connected_to(receiver, sender=app):
        response = post_json(
            app, "/api/notes", {"title": "x", "owner_id": 7, "tags": [{"name": "a", "x": 1}]}
        )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["detail"] == REASON_INVALID
    assert response.json["errors"] == {
        "owner_id": ["Unknown field."],
        "tags.0.x": ["Unknown field."],
    }
    assert received == [
        {"reason": REASON_INVALID, "status": 422, "fields": ["owner_id", "tags.0.x"]}
    ]


def test_a_valid_body_reaches_an_async_view_as_a_model(app: Flask) -> None:
    """An ``async def`` view is awaited with the validated models, as a sync view is called."""
    response = post_json(app, "/api/async/notes?page=2", {"title": " Cafe\u0301 "})
    assert response.status_code == 200
    assert response.json == {
        "body": {"title": "Café", "body": "", "tags": []},
        "query": {"q": "", "page": 2, "kind": []},
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"title": "x", "owner_id": 7, "tags": [{"name": "a", "x": 1}]}, id="unknown"),
        pytest.param({"title": "", "tags": [{"name": "x" * 21}]}, id="invalid"),
        pytest.param({"title": "x\u202ey"}, id="bidi"),
    ],
)
def test_an_async_view_refuses_as_a_sync_view_does(app: Flask, body: dict[str, t.Any]) -> None:
    """A refused body is the same 422 problem (and signal) for an ``async def`` view, and
    the view never runs."""
    received: list[dict[str, t.Any]] = []

    def receiver(sender: Flask, **extra: t.Any) -> None:
        received.append(extra)

    with signals.input_rejected.connected_to(receiver, sender=app):
        sync = post_json(app, "/api/notes", body)
        async_ = post_json(app, "/api/async/notes", body)
    assert async_.status_code == sync.status_code == 422
    assert async_.mimetype == "application/problem+json"
    different = {"request_id", "instance"}  # per request, or the path
    assert {k: v for k, v in async_.json.items() if k not in different} == {
        k: v for k, v in sync.json.items() if k not in different
    }
    assert async_.json["detail"] == REASON_INVALID
    assert received[0] == received[1]


def test_an_async_view_refuses_a_bad_query(app: Flask) -> None:
    """The query string of an ``async def`` view is checked too."""
    response = post_json(app, "/api/async/notes?page=0&extra=1", {"title": "x"})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"page", "extra"}


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        pytest.param({"title": "x\x00y"}, "title", CONTROL_CHARACTER, id="nul"),
        pytest.param({"title": "x\u202ey"}, "title", CONTROL_CHARACTER, id="bidi"),
        pytest.param('{"title": "x\\ud800"}', "title", LONE_SURROGATE, id="lone-surrogate"),
        pytest.param({"title": ""}, "title", "String should have at least 1 character", id="empty"),
        pytest.param({"title": "x" * 51}, "title", "String should have at most 50", id="long"),
        pytest.param({"title": 5}, "title", "Input should be a valid string", id="wrong-type"),
        pytest.param({}, "title", "Field required", id="missing"),
    ],
)
def test_invalid_fields_are_listed(app: Flask, body: t.Any, path: str, message: str) -> None:
    """Each field's problem is a message under its path; the value is never echoed."""
    response = post_json(app, "/api/notes", body)
    assert response.status_code == 422
    assert any(m.startswith(message) for m in response.json["errors"][path])
    assert "\x00" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param("{not json", REASON_MALFORMED_JSON, id="syntax"),
        pytest.param('{"title": "a", "title": "b"}', REASON_MALFORMED_JSON, id="duplicate-key"),
        pytest.param('{"title": NaN}', REASON_MALFORMED_JSON, id="nan"),
        pytest.param('{"title": Infinity}', REASON_MALFORMED_JSON, id="infinity"),
        pytest.param(b'{"title": "\xff"}', REASON_MALFORMED_JSON, id="not-utf8"),
        pytest.param("[" * 100_000 + "]" * 100_000, REASON_MALFORMED_JSON, id="recursion"),
        pytest.param('["title"]', REASON_NOT_OBJECT, id="array"),
        pytest.param('"title"', REASON_NOT_OBJECT, id="string"),
    ],
)
def test_malformed_bodies_are_400(app: Flask, data: str | bytes, reason: str) -> None:
    """A body that is not one JSON object is a 400 problem document, never a 500."""
    response = post_json(app, "/api/notes", data)
    assert response.status_code == 400
    assert response.json["detail"] == reason


def test_a_body_that_is_not_json_is_415(app: Flask) -> None:
    """A form post to a JSON view is refused with 415."""
    response = app.test_client().post(
        BASE + "/api/notes", data={"title": "x"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 415
    assert response.json["detail"] == REASON_NOT_JSON


@pytest.mark.parametrize(
    ("body", "path"),
    [
        pytest.param({"title": "x", "tags": [{"name": "a"}] * 4}, "tags", id="items"),
        pytest.param({"title": "x" * 31}, "title", id="string"),
        pytest.param({"title": "x", "tags": [{"name": ["deep"]}]}, "tags.0.name", id="depth"),
    ],
)
def test_bounds_apply_whatever_the_model(app: Flask, body: t.Any, path: str) -> None:
    """max_items, max_string and max_depth are checked before the model."""
    response = post_json(app, "/api/bounded", body)
    assert response.status_code == 422
    assert path in response.json["errors"]


def test_a_json_suffix_type_is_accepted(app: Flask) -> None:
    """application/merge-patch+json is JSON too."""
    response = app.test_client().post(
        BASE + "/api/notes",
        data=json.dumps({"title": "x"}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200


# -- query strings ----------------------------------------------------------------------


def test_query_strings_are_validated(app: Flask) -> None:
    """Single values and repeated list values become the model's fields."""
    response = app.test_client().get(BASE + "/api/search?q=x&page=2&kind=a&kind=b")
    assert response.json == {"q": "x", "page": 2, "kind": ["a", "b"]}
    one = app.test_client().get(BASE + "/api/search?kind=a")
    assert one.json["kind"] == ["a"]


@pytest.mark.parametrize(
    ("query", "path"),
    [
        pytest.param("page=0", "page", id="range"),
        pytest.param("page=1&page=2", "page", id="repeated-scalar"),
        pytest.param("admin=1", "admin", id="unknown"),
        pytest.param("q=%00", "q", id="nul"),
    ],
)
def test_invalid_queries_are_422(app: Flask, query: str, path: str) -> None:
    """Out of range, repeated, unknown or hostile parameters are field errors."""
    response = app.test_client().get(
        f"{BASE}/api/search?{query}", headers={"Accept": "application/json"}
    )
    assert response.status_code == 422
    assert path in response.json["errors"]


# -- models that would let unknown fields through ---------------------------------------


class Open(BaseModel):
    title: str


class ClosedWithOpenChild(Schema):
    child: Open


class Ignoring(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str


@pytest.mark.parametrize("model", [Open, ClosedWithOpenChild, Ignoring], ids=lambda m: m.__name__)
def test_models_must_refuse_unknown_fields(model: type[BaseModel]) -> None:
    """Decorating a view with a model that accepts unknown fields fails at once."""
    with pytest.raises(ConfigurationError, match="extra='forbid'"):
        validate(model)


# -- WTForms ----------------------------------------------------------------------------


def csrf_from(page: str) -> tuple[str, str]:
    import re

    found = re.search(r'name="([^"]+)" type="hidden" value="([^"]+)"', page)
    assert found, page
    return found.group(1), found.group(2)


def test_the_form_carries_bastions_csrf_token_and_validates(app: Flask) -> None:
    """The hidden field holds Bastion's token; a complete post passes."""
    client = app.test_client()
    page = client.get(BASE + "/notes/new").get_data(as_text=True)
    name, token = csrf_from(page)
    assert name == "csrf_token"
    response = client.post(
        BASE + "/notes/new",
        data={name: token, "title": "Cafe\u0301", "body": "line one\nline two"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 200
    assert response.json == {"title": "Café", "body": "line one\nline two"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"title": "x", "role": "admin"}, "form", id="unknown-field"),
        pytest.param({"title": "a\nb"}, "title", id="line-break-in-one-line"),
        pytest.param({"title": "x", "body": "a\x00b"}, "body", id="nul-in-textarea"),
        pytest.param({"title": "x\u202e"}, "title", id="bidi"),
        pytest.param({"title": "x" * (MAX_FIELD + 1)}, "title", id="default-maximum"),
        pytest.param({"body": "x"}, "title", id="required"),
    ],
)
def test_bad_form_input_is_refused_beside_its_field(
    app: Flask, data: dict[str, str], field: str
) -> None:
    """Each problem is an error on its field (or on the form); the page is a 422."""
    client = app.test_client()
    name, token = csrf_from(client.get(BASE + "/notes/new").get_data(as_text=True))
    received: list[dict[str, t.Any]] = []

    def receiver(sender: Flask, **extra: t.Any) -> None:
        received.append(extra)

    with signals.input_rejected.connected_to(receiver, sender=app):
        response = client.post(BASE + "/notes/new", data={name: token, **data}, headers=SAME_ORIGIN)
    assert response.status_code == 422
    label = "" if field == "form" else field  # the form's own errors have no field name
    assert f"<p>{label}:" in response.get_data(as_text=True)
    assert received and field in received[0]["fields"]


def test_a_declared_maximum_is_kept(app: Flask) -> None:
    """A field's own Length maximum applies instead of the default."""
    client = app.test_client()
    name, token = csrf_from(client.get(BASE + "/notes/new").get_data(as_text=True))
    response = client.post(
        BASE + "/short", data={name: token, "title": "x" * 6}, headers=SAME_ORIGIN
    )
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["title"]


def test_the_form_checks_the_token_on_an_exempt_view(app: Flask) -> None:
    """On a view the CSRF component skips, the form itself refuses a missing token."""
    client = app.test_client()
    client.get(BASE + "/notes/new")
    response = client.post(BASE + "/exempt", data={"title": "x"})
    assert response.status_code == 422
    assert "csrf_token" in response.json["errors"]


def test_too_many_fields_and_hostile_field_names_are_refused(app: Flask) -> None:
    """An object with more members than max_items, or a key with a control character."""
    many = post_json(app, "/api/bounded", {f"k{i}": 1 for i in range(4)})
    assert many.status_code == 422 and "$" in many.json["errors"]
    hostile = post_json(app, "/api/notes", {"title": "x", "ti\x1btle": "y"})
    assert hostile.status_code == 422
    assert "A field name holds control characters." in hostile.json["errors"]["$"]


class Undescribable(Schema):
    handler: t.Callable[[], None]


def test_a_model_that_cannot_be_described_is_a_configuration_error() -> None:
    """A model with no JSON schema cannot be proved closed: refused at decoration."""
    with pytest.raises(ConfigurationError, match="cannot be checked"):
        validate(Undescribable)


def test_a_get_form_reads_no_data(app: Flask) -> None:
    """On GET the form is unsubmitted: no field errors and no unknown-field check."""
    with app.test_request_context(BASE + "/notes/new?extra=1"):
        form = NoteForm()
        assert form.errors == {}
        assert form.title.data is None
