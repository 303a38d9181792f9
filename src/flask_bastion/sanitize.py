"""User-written Markdown and HTML made safe to show: a documented allowlist.

Defends against stored cross-site scripting (OWASP A03): text one user writes and another
user's browser renders must not carry script. Jinja's autoescaping covers plain text; rich
text (a note written in Markdown) has to become HTML, and that HTML is where script hides
(``<script>``, ``onerror=``, ``javascript:`` links, ``<svg>``, ``<iframe>``, CSS).

Two stages, both established libraries:

1. :func:`render_markdown` parses with ``markdown-it-py`` (CommonMark, plus tables and
   strikethrough) with **raw HTML off**: HTML typed into the Markdown is shown as text, not
   passed through.
2. Its output, and anything given to :func:`sanitize_html`, goes through ``nh3`` (the Rust
   ``ammonia`` sanitizer, which parses like a browser, with html5ever) keeping only
   :data:`ALLOWED_TAGS` and :data:`ALLOWED_ATTRIBUTES`. ``<script>`` and ``<style>`` are
   removed with their content; other unknown tags are removed and their text kept; comments
   are removed; ``href`` keeps only the :data:`URL_SCHEMES` (and relative URLs); every link
   gets ``rel="noopener noreferrer nofollow"``.

No images: an ``<img>`` from any host would let a note's author learn who reads it and from
where (a tracking pixel) and load content the site does not control. Markdown's
``![alt](url)`` becomes a plain link to the URL. No ``style``, ``class`` or ``id``
attributes: a note cannot restyle or overlay the page around it.

The output is :class:`~markupsafe.Markup`, which Jinja inserts as it is; mark nothing else
as safe.
"""

from __future__ import annotations

import functools
import typing as t

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from .components import Stage

if t.TYPE_CHECKING:
    from flask import Flask

    from .config import BastionConfig

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "LINK_REL",
    "MAX_TAGS",
    "URL_SCHEMES",
    "Sanitizer",
    "render_markdown",
    "sanitize_html",
]

#: The tags kept: what CommonMark, tables and strikethrough produce, less ``img``.
ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "hr",
        "h1", "h2", "h3", "h4", "h5", "h6",
        "em", "strong", "s", "code", "pre", "blockquote",
        "ul", "ol", "li",
        "a",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
#: The attributes kept, by tag; every other attribute (``on*``, ``style``, ``class``,
#: ``id``, ``src``...) is removed.
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "ol": frozenset({"start"}),
}
#: The URL schemes a link may have; relative URLs (``/notes/x``, ``#part``) are kept.
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
#: Added to every link: the target page gets no handle on this window (``noopener``) and
#: no ``Referer`` naming the note (``noreferrer``); search engines give a link placed by a
#: user no credit (``nofollow``), which takes the point out of link spam.
LINK_REL = "noopener noreferrer nofollow"
#: The most ``<`` a fragment given to :func:`sanitize_html` may hold; past it the
#: fragment is shown as text. html5ever, like browsers, takes time in the square of the
#: depth of nested blocks: 250 kB of ``<div>`` takes 15 seconds to parse, while 5,000
#: nested blocks take about a tenth of a second. Hand-written rich text stays far below.
MAX_TAGS = 5_000

_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    link_rel=LINK_REL,
    url_schemes=set(URL_SCHEMES),
    strip_comments=True,
)

# Raw HTML off: "<b>" in a note is shown as "<b>". markdown-it also refuses javascript:,
# vbscript:, file: and data: link targets on its own; nh3 applies the narrower allowlist.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
# An image would be fetched from any host by every reader; "![alt](url)" becomes "!" and a
# link.
_markdown.disable("image")


def sanitize_html(html: str) -> Markup:
    """Keep only the allowlisted tags, attributes and URL schemes of ``html``.

    A fragment with more than :data:`MAX_TAGS` tags is shown as text (escaped), not
    parsed: the HTML parser's time grows with the square of the nesting depth.

    :param html: an HTML fragment from anywhere, including a hostile user.
    :returns: the cleaned fragment, ready for a template.

    .. versionadded:: 0.1
    """
    if html.count("<") > MAX_TAGS:
        return escape(html)
    return _clean(html)


def _clean(html: str) -> Markup:
    return Markup(_cleaner.clean(html))  # noqa: S704 - the output of the sanitizer


def render_markdown(text: str) -> Markup:
    """Render the Markdown ``text`` to sanitized HTML (raw HTML in it is shown as text).

    The last :data:`RENDER_CACHE_SIZE` results are kept: markdown-it-py is pure Python,
    and some text costs it far more than its length suggests (100,000 ``[`` take about
    two seconds), so a note shown again and again is rendered once.

    :param text: Markdown from a user.
    :returns: the HTML, cleaned with the allowlist of :func:`sanitize_html`.

    .. versionadded:: 0.1
    """
    return _render_markdown(str(text))


#: How many rendered Markdown texts :func:`render_markdown` keeps (per process).
RENDER_CACHE_SIZE = 64


@functools.lru_cache(maxsize=RENDER_CACHE_SIZE)
def _render_markdown(text: str) -> Markup:
    # Markdown's own nesting is bounded (markdown-it's maxNesting), so its output, however
    # many tags it has, parses in linear time: no MAX_TAGS here.
    return _clean(_markdown.render(text))


class Sanitizer:
    """Component: the Jinja filters ``sanitize`` (:func:`sanitize_html`) and ``markdown``
    (:func:`render_markdown`), so a template shows user HTML or Markdown safely without
    ``|safe``::

        {{ note.body | markdown }}
        {{ profile.bio_html | sanitize }}

    It looks at no request.
    """

    name = "sanitize"
    # No hook: its stage only places it in the list of components.
    stage = Stage.RESPONSE

    def __init__(self, config: BastionConfig) -> None:
        pass

    def init_app(self, app: Flask) -> None:
        app.jinja_env.filters.setdefault("sanitize", _filter_input(sanitize_html))
        app.jinja_env.filters.setdefault("markdown", _filter_input(render_markdown))


def _filter_input(function: t.Callable[[str], Markup]) -> t.Callable[[object], Markup]:
    """``function`` as a filter: ``None`` shows nothing, anything else as its text."""

    def apply(value: object) -> Markup:
        return Markup() if value is None else function(str(value))

    apply.__name__ = function.__name__
    return apply
