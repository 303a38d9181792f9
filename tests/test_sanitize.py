"""sanitize.py: Markdown with raw HTML off, then nh3 with the documented allowlist."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markupsafe import Markup, escape

from flask_bastion.sanitize import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    LINK_REL,
    MAX_TAGS,
    render_markdown,
    sanitize_html,
)

#: Hostile input, as Markdown. Each must come out without anything that can run script.
MARKDOWN_XSS = {
    "script tag": "<script>alert(1)</script>",
    "script in heading": "# Title <script>alert(1)</script>",
    "img onerror": "<img src=x onerror=alert(1)>",
    "event handler": '<p onclick="alert(1)">x</p>',
    "javascript link": "[x](javascript:alert(1))",
    "mixed-case javascript": "[x](JaVaScRiPt:alert(1))",
    "entity-encoded colon": "[x](javascript&#58;alert(1))",
    "hex-encoded colon": "[x](javascript&#x3a;alert(1))",
    "tab in scheme": "[x](java\tscript:alert(1))",
    "leading space": "[x]( javascript:alert(1))",
    "angle-bracket destination": "[x](<javascript:alert(1)>)",
    "autolink javascript": "<javascript:alert(1)>",
    "vbscript link": "[x](vbscript:msgbox(1))",
    "data link": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "reference link": "[x][a]\n\n[a]: javascript:alert(1)",
    "image javascript": "![x](javascript:alert(1))",
    "image onerror title": '![x](https://e.example/a.png "a\\" onerror=\\"alert(1)")',
    "link title breakout": '[x](https://e.example/ "a\\" onmouseover=\\"alert(1)")',
    "svg": "<svg onload=alert(1)><script>alert(1)</script></svg>",
    "math": "<math><maction xlink:href=javascript:alert(1)>x</maction></math>",
    "style tag": "<style>body{background:url(javascript:alert(1))}</style>",
    "iframe": '<iframe src="javascript:alert(1)"></iframe>',
    "html block": "<div>\n<script>alert(1)</script>\n</div>",
    "html comment": "<!-- <script>alert(1)</script> -->",
    "code span": "`<script>alert(1)</script>`",
    "fenced code": "```\n<script>alert(1)</script>\n```",
    "table cell": "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
}

#: Hostile input, as HTML for sanitize_html.
HTML_XSS = {
    "script tag": "<script>alert(1)</script>",
    "uppercase script": "<SCRIPT SRC=//e.example/x.js></SCRIPT>",
    "img onerror": "<img src=x onerror=alert(1)>",
    "body onload": "<body onload=alert(1)>",
    "event handler on allowed tag": '<p onclick="alert(1)">x</p>',
    "javascript href": '<a href="javascript:alert(1)">x</a>',
    "entity-encoded javascript": '<a href="&#106;avascript:alert(1)">x</a>',
    "encoded colon": '<a href="javascript&colon;alert(1)">x</a>',
    "tab in scheme": '<a href="java&#9;script:alert(1)">x</a>',
    "newline in scheme": '<a href="java\nscript:alert(1)">x</a>',
    "leading whitespace": '<a href="  javascript:alert(1)">x</a>',
    "leading control character": '<a href="&#1;javascript:alert(1)">x</a>',
    "vbscript href": '<a href="vbscript:msgbox(1)">x</a>',
    "data href": '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "svg onload": "<svg onload=alert(1)>",
    "svg script": "<svg><script>alert(1)</script></svg>",
    "svg animate": '<svg><a><animate attributeName=href values="javascript:alert(1)"/>x</a></svg>',
    "math href": '<math><mtext><a href="javascript:alert(1)">x</a></mtext></math>',
    "style tag": "<style>*{background:url(javascript:alert(1))}</style>",
    "style attribute": '<p style="background:url(javascript:alert(1))">x</p>',
    "iframe": '<iframe src="https://e.example/"></iframe>',
    "iframe srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "object": '<object data="javascript:alert(1)"></object>',
    "embed": '<embed src="javascript:alert(1)">',
    "form action": '<form action="javascript:alert(1)"><button>x</button></form>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "base href": '<base href="javascript:alert(1)//">',
    "link import": '<link rel="import" href="https://e.example/x.html">',
    "title breakout": '<a href="https://e.example/" title="&quot; onclick=&quot;alert(1)">x</a>',
    "unclosed attribute": '<a href="https://e.example/ onmouseover=alert(1)//">x',
    "noscript mutation": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "comment breakout": "<!--><script>alert(1)</script>-->",
    "template": "<template><script>alert(1)</script></template>",
    "srcset": '<img srcset="x 1x, javascript:alert(1) 2x">',
    "svg style namespace": "<svg><style><img src=x onerror=alert(1)></style></svg>",
    "math mglyph style": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "button formaction": '<button formaction="javascript:alert(1)">x</button>',
    "bang comment end": "<!-- --!><script>alert(1)</script> -->",
    "xmp": "<xmp><script>alert(1)</script></xmp>",
}


class _Elements(HTMLParser):
    """Every start tag of a fragment with its attributes, decoded as a browser would."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_harmless(html: str) -> None:
    """Only allowlisted tags and attributes, and no link with a scheme that runs script."""
    for tag, attrs in elements(html):
        assert tag in ALLOWED_TAGS, html
        assert set(attrs) <= ALLOWED_ATTRIBUTES.get(tag, frozenset()) | {"rel"}, html
        href = "".join((attrs.get("href") or "").split()).lower()
        assert not href.startswith(("javascript:", "vbscript:", "data:")), html
        if tag == "a":
            assert attrs["rel"] == LINK_REL, html


def _tags(html: str) -> list[str]:
    return [tag for tag, _ in elements(html)]


@pytest.mark.parametrize("source", MARKDOWN_XSS.values(), ids=MARKDOWN_XSS.keys())
def test_markdown_xss_corpus_is_harmless(source: str) -> None:
    """No payload of the Markdown corpus survives rendering."""
    assert_harmless(render_markdown(source))


@pytest.mark.parametrize("source", HTML_XSS.values(), ids=HTML_XSS.keys())
def test_html_xss_corpus_is_harmless(source: str) -> None:
    """No payload of the HTML corpus survives sanitizing."""
    assert_harmless(sanitize_html(source))


def test_raw_html_in_markdown_is_shown_as_text() -> None:
    """HTML typed into Markdown is escaped, not passed through."""
    assert render_markdown("a <b>bold</b> claim") == "<p>a &lt;b&gt;bold&lt;/b&gt; claim</p>\n"


def test_markdown_renders_the_allowed_structure() -> None:
    """Headings, emphasis, lists, code, quotes, rules and tables come through."""
    source = (
        "# T\n\n*e* **s** ~~x~~ `c`\n\n> q\n\n3. a\n4. b\n\n- u\n\n---\n\n"
        "```\npre\n```\n\n| h |\n|---|\n| d |\n"
    )
    tags = set(_tags(render_markdown(source)))
    assert tags == {
        "h1", "p", "em", "strong", "s", "code", "blockquote", "ol", "li", "ul", "hr",
        "pre", "table", "thead", "tbody", "tr", "th", "td",
    }  # fmt: skip
    assert 'start="3"' in render_markdown("3. a\n")


def test_links_get_rel_and_keep_safe_urls() -> None:
    """http, https, mailto and relative links are kept, each with the rel attribute."""
    for url in ("https://e.example/a?b=c", "http://e.example/", "mailto:a@e.example", "/notes/x"):
        html = render_markdown(f'[x]({url} "T")')
        assert html == f'<p><a href="{url}" title="T" rel="{LINK_REL}">x</a></p>\n'


@pytest.mark.parametrize(
    "url", ["ftp://e.example/", "file:///etc/passwd", "tel:123"], ids=["ftp", "file", "tel"]
)
def test_other_schemes_are_dropped(url: str) -> None:
    """A link with a scheme outside the allowlist loses its href."""
    assert "href" not in sanitize_html(f'<a href="{url}">x</a>')


def test_a_rel_from_the_author_is_replaced() -> None:
    """An author's rel and target cannot undo noopener."""
    html = sanitize_html('<a href="https://e.example/" rel="opener" target="_blank">x</a>')
    assert html == f'<a href="https://e.example/" rel="{LINK_REL}">x</a>'


def test_images_become_links() -> None:
    """Markdown images are not loaded; the reader gets a link instead."""
    html = render_markdown("![chart](https://e.example/c.png)")
    assert html == f'<p>!<a href="https://e.example/c.png" rel="{LINK_REL}">chart</a></p>\n'


def test_output_is_markup() -> None:
    """Both functions return Markup, so Jinja does not escape them again."""
    assert isinstance(render_markdown("x"), Markup)
    assert isinstance(sanitize_html("x"), Markup)


def test_unknown_tags_keep_their_text() -> None:
    """A tag outside the allowlist is removed and its text kept; script text is dropped."""
    assert sanitize_html("<blink>hi</blink><script>bye</script>") == "hi"


def test_html_with_too_many_tags_is_shown_as_text() -> None:
    """20,000 nested blocks (seconds of parsing) come back escaped, not parsed."""
    hostile = "<blockquote>" * 20_000 + "<script>alert(1)</script>"
    cleaned = sanitize_html(hostile)
    assert cleaned == escape(hostile)
    assert "<" not in cleaned


def test_html_up_to_the_tag_limit_is_sanitized() -> None:
    """At MAX_TAGS the fragment is cleaned as usual."""
    source = "<em>x</em>" * (MAX_TAGS // 2)
    assert sanitize_html(source) == source


def test_long_markdown_is_not_subject_to_the_tag_limit() -> None:
    """Markdown's nesting is bounded, so a long note with many tags still renders."""
    rendered = render_markdown("*x* " * (MAX_TAGS + 10))
    assert rendered.count("<em>") == MAX_TAGS + 10


def test_rendered_markdown_is_kept_for_the_next_view() -> None:
    """Text that costs markdown-it seconds (100,000 ``[``) is rendered once, not on every
    view of the page that shows it."""
    costly = "[" * 100_000 + " once"
    first = render_markdown(costly)
    assert render_markdown(costly) is first
