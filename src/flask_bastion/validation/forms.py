"""WTForms for HTML forms, wired to Flask-Bastion's CSRF token and text rules.

:class:`Form` is a :class:`wtforms.Form` that:

* reads the current request (``request.form`` and ``request.files``) by itself;
* carries Flask-Bastion's CSRF token in a hidden field named like
  ``BASTION_CSRF_FIELD_NAME``, and checks it with
  :func:`~flask_bastion.csrf.validate_csrf` (the CSRF component already refuses a forged
  request before the view runs; the form's own check also covers views marked
  :func:`~flask_bastion.csrf.csrf_exempt`);
* refuses fields it does not declare (mass assignment: a hand-made ``role=admin`` field
  is an error on the form, not a silently ignored or, worse, copied value), and a field
  sent twice (``title=a&title=b``: WTForms keeps the first, other readers of the same
  request may keep the last), except those that take several values
  (:class:`~wtforms.fields.SelectMultipleField`, :class:`~wtforms.fields.MultipleFileField`);
* normalises every text field to NFC and refuses control characters and bidirectional
  overrides (:mod:`flask_bastion.validation.text`), tab and line breaks too in one-line
  fields (every field except a :class:`~wtforms.fields.TextAreaField`);
* bounds every text field: a field without a :class:`~wtforms.validators.Length`
  maximum gets :data:`MAX_FIELD` characters.

The fields inside a :class:`~wtforms.fields.FieldList` or a
:class:`~wtforms.fields.FormField` (``tags-0``, ``address-street``) are declared fields
and follow the same rules.

A view re-renders the form with ``form.errors`` beside the fields, with status 422::

    form = NoteForm()
    if request.method == "POST":
        if form.validate():
            ...
        return render_template("note.html", form=form), 422
"""

from __future__ import annotations

import typing as t

import wtforms
from flask import current_app, request
from werkzeug.datastructures import CombinedMultiDict
from wtforms.csrf.core import CSRF
from wtforms.form import BaseForm
from wtforms.validators import Length

from .. import signals
from ..context import get_state
from ..csrf import csrf_token, validate_csrf
from ..exceptions import CSRFError
from ..logs import security_log
from .text import clean_text, text_problem

__all__ = ["MAX_FIELD", "REASON_FORM", "REPEATED_FIELD", "UNKNOWN_FIELD", "BastionCSRF", "Form"]

#: The longest value of a text field that declares no maximum, in characters.
MAX_FIELD = 10_000
REASON_FORM = "The form has invalid fields."
UNKNOWN_FIELD = "This form does not take the field {name!r}."
REPEATED_FIELD = "Send this field once."
TOO_LONG = "Field cannot be longer than {max} characters."
_TEXT_FIELDS = (wtforms.StringField,)
_MULTILINE_FIELDS = (wtforms.TextAreaField,)
#: Fields that take several values of one name; every other field takes one.
_MULTIPLE_FIELDS = (wtforms.SelectMultipleField, wtforms.MultipleFileField)


class BastionCSRF(CSRF):
    """WTForms' CSRF hook, served by Flask-Bastion's tokens."""

    def generate_csrf_token(self, csrf_token_field: t.Any) -> str:
        return csrf_token()

    def validate_csrf_token(self, form: BaseForm, field: t.Any) -> None:
        try:
            validate_csrf(field.data or "")
        except CSRFError as exc:
            raise wtforms.ValidationError(exc.reason) from None


def _form_data() -> CombinedMultiDict[str, t.Any] | None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    return CombinedMultiDict([request.form, request.files])


def _has_maximum(field: wtforms.Field) -> bool:
    validators: list[t.Any] = list(field.validators)
    return any(isinstance(v, Length) and v.max not in (None, -1) for v in validators)


class _Meta(wtforms.meta.DefaultMeta):
    csrf = True
    csrf_class = BastionCSRF

    @property
    def csrf_field_name(self) -> str:  # type: ignore[override]
        return str(get_state(current_app).config.csrf.field_name)

    def bind_field(self, form: BaseForm, unbound_field: t.Any, options: t.Any) -> t.Any:
        field = unbound_field.bind(form=form, **options)
        if isinstance(field, _TEXT_FIELDS) and not _has_maximum(field):
            field.validators = [*field.validators, Length(max=MAX_FIELD)]
        return field


class Form(wtforms.Form):
    """A WTForms form for the current request; see the module documentation."""

    Meta = _Meta

    def __init__(self, formdata: t.Any = ..., **kwargs: t.Any) -> None:
        data = _form_data() if formdata is ... else formdata
        self._submitted = data
        super().__init__(formdata=data, **kwargs)

    def validate(self, extra_validators: t.Any = None) -> bool:
        """Run Flask-Bastion's checks and WTForms' validators: text rules on every text
        field (those inside a :class:`~wtforms.fields.FieldList` or
        :class:`~wtforms.fields.FormField` too), each one-value field sent at most once,
        and no undeclared field. A failure sends :data:`~flask_bastion.signals.input_rejected`
        with the fields' names.

        Text is normalised before WTForms' validators run, so that a ``Length`` maximum
        bounds the text as it will be stored: NFC can lengthen it (U+FB2C becomes three
        code points)."""
        fields = list(_leaf_fields(self))
        problems = []
        for field in fields:
            problem = self._field_problem(field)
            if problem is not None:
                problems.append((field, problem))
        ok = super().validate(extra_validators)
        for field, problem in problems:
            _add_error(field, problem)  # after WTForms, which resets each field's errors
            ok = False
        if self._submitted is not None:
            declared = {field.name for field in fields}
            for name in self._submitted:
                if name not in declared:
                    self.form_errors.append(UNKNOWN_FIELD.format(name=name[:64]))
                    ok = False
        _collect_list_errors(self)
        self._errors = None  # WTForms caches the errors: rebuild them with ours
        if not ok:
            # Errors of the whole form (an undeclared field) are listed under "form".
            names = sorted(name or "form" for name in self.errors)
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            signals.input_rejected.send(app, reason=REASON_FORM, status=422, fields=names)
            security_log.info(
                "input.invalid: %s",
                REASON_FORM,
                extra={"event": "input.invalid", "reason": REASON_FORM, "fields": names},
            )
        return ok

    def _field_problem(self, field: wtforms.Field) -> str | None:
        """What is wrong with ``field``, or ``None`` (and a text field's text is
        normalised)."""
        # A one-value field takes the first of several values: a second one is parameter
        # pollution (what a proxy, a WAF or another framework reads may be the last).
        getlist = getattr(self._submitted, "getlist", None)
        if (
            getlist is not None
            and not isinstance(field, _MULTIPLE_FIELDS)
            and len(getlist(field.name)) > 1
        ):
            return REPEATED_FIELD
        if not isinstance(field, _TEXT_FIELDS) or not isinstance(field.data, str):
            return None
        problem = text_problem(field.data, multiline=isinstance(field, _MULTILINE_FIELDS))
        if problem is not None:
            return problem
        field.data = clean_text(field.data)
        # Fields inside a FieldList are bound without the form's Meta, so without the
        # Length maximum bind_field adds: the bound is applied here.
        if len(field.data) > MAX_FIELD and not _has_maximum(field):
            return TOO_LONG.format(max=MAX_FIELD)
        return None


def _leaf_fields(form: t.Iterable[wtforms.Field]) -> t.Iterator[wtforms.Field]:
    """The fields of ``form``, with each FieldList and FormField replaced by the fields
    inside it (whose names are those submitted: ``tags-0``, ``address-street``)."""
    for field in form:
        if isinstance(field, wtforms.FieldList):
            yield from _leaf_fields(field.entries)
        elif isinstance(field, wtforms.FormField):
            yield from _leaf_fields(field.form)
        else:
            yield field


def _collect_list_errors(form: t.Iterable[wtforms.Field]) -> None:
    """Gather again the errors of each FieldList from its entries, as WTForms does once
    in its own validation (before ours added any)."""
    for field in form:
        if isinstance(field, wtforms.FieldList):
            _collect_list_errors(field.entries)
            errors = [entry.errors for entry in field.entries]
            field.errors = errors if any(errors) else []
        elif isinstance(field, wtforms.FormField):
            _collect_list_errors(field.form)


def _add_error(field: wtforms.Field, message: str) -> None:
    errors = field.errors if isinstance(field.errors, list) else list(field.errors)
    errors.append(message)
    field.errors = errors
