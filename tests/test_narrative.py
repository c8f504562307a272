"""Narratives: variables from the model, Markdown, and a sanitiser no author HTML gets past."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitegen.narrative import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    URL_SCHEMES,
    ContentError,
    document,
    read_narrative,
    render_markdown,
)

VARIABLES = {"partner": {"name": "North General"}, "composite": "30.0", "period": "2025-09"}


def test_front_matter_variables_and_markdown() -> None:
    text = (
        "---\ntitle: Our year\n---\n"
        "**{{ partner.name }}** scored {{ composite }} in {{ period }}.\n"
    )
    narrative = render_markdown(text, VARIABLES, "content/x.md")
    assert narrative.title == "Our year"
    assert narrative.html == "<p><strong>North General</strong> scored 30.0 in 2025-09.</p>"


@pytest.mark.parametrize(
    ("hostile", "kept"),
    [
        ("<script>alert(1)</script>Hi", "<p>Hi</p>"),
        ('<img src=x onerror="alert(1)">', "<p></p>"),
        ("[click](javascript:alert(1))", '<p><a rel="noopener noreferrer">click</a></p>'),
        (
            '<a href="data:text/html,<script>alert(1)</script>">x</a>',
            '<p><a rel="noopener noreferrer">x</a></p>',
        ),
        ('<p onclick="alert(1)" style="color:red">text</p>', "<p>text</p>"),
        ("<iframe src=https://evil.example></iframe>ok", "<p>ok</p>"),
        ('<svg onload="alert(1)"><circle/></svg>fine', "<p>fine</p>"),
        ("<style>body{display:none}</style>shown", "<p>shown</p>"),
    ],
)
def test_author_html_cannot_run_script(hostile: str, kept: str) -> None:
    assert render_markdown(hostile, {}, "content/x.md").html == kept


def test_links_keep_safe_urls_and_get_rel() -> None:
    html = render_markdown("[report](https://example.org/r.pdf)", {}, "x").html
    assert html == '<p><a href="https://example.org/r.pdf" rel="noopener noreferrer">report</a></p>'


def test_a_value_carrying_markup_is_cleaned_too() -> None:
    html = render_markdown(
        "{{ partner.name }}", {"partner": {"name": "<b onclick=x>A</b>"}}, "x"
    ).html
    assert html == "<p><b>A</b></p>"


def test_unknown_variable_names_the_file() -> None:
    with pytest.raises(ContentError) as caught:
        render_markdown("{{ compsite }}", VARIABLES, "content/partners/a.md")
    assert str(caught.value) == (
        "content/partners/a.md: 'compsite' is undefined; see the README for the variables"
    )


def test_template_syntax_error_names_file_and_line() -> None:
    with pytest.raises(ContentError) as caught:
        render_markdown("fine\n{{ broken\n", VARIABLES, "content/index.md")
    assert str(caught.value).startswith("content/index.md:2: ")


def test_sandbox_blocks_attribute_tricks() -> None:
    with pytest.raises(ContentError) as caught:
        render_markdown("{{ ''.__class__.__mro__ }}", {}, "content/index.md")
    assert str(caught.value) == (
        "content/index.md: access to attribute '__class__' of 'str' object is unsafe."
    )


def test_missing_file_is_no_narrative(tmp_path: Path) -> None:
    assert read_narrative(tmp_path / "none.md", {}, "content/none.md", tmp_path) is None


def test_document_is_the_sanitised_html_as_a_tree_of_text() -> None:
    html = (
        "<h2>Plan</h2>\n<p>Hello <strong>big</strong>\n  world #set [x]</p>\n"
        "<ul>\n<li>one</li>\n<li>two <em>2</em></li>\n</ul>\n"
        '<p><a href="https://example.org/a">link</a> and <a href="javascript:alert(1)">x</a></p>'
        "<table><thead><tr><th>a</th><th>b</th></tr></thead>"
        "<tbody><tr><td>1</td></tr></tbody></table>"
        "<script>alert(1)</script><pre>x\n  y</pre>"
    )
    nodes = document(html)
    assert [n["tag"] for n in nodes] == ["h2", "p", "ul", "p", "table", "pre"]
    assert nodes[1]["children"] == [
        {"text": "Hello "},
        {"tag": "strong", "children": [{"text": "big"}]},
        {"text": " world #set [x]"},  # white space folded; Typst syntax stays mere text
    ]
    assert [li["children"][0]["text"] for li in nodes[2]["children"]] == ["one", "two "]
    links = [n for n in nodes[3]["children"] if n.get("tag") == "a"]
    assert links[0]["href"] == "https://example.org/a"
    assert links[1]["href"] == ""  # the sanitiser removed the javascript: URL
    assert nodes[4]["rows"] == [[[{"text": "a"}], [{"text": "b"}]], [[{"text": "1"}], []]]
    assert nodes[5]["children"] == [{"text": "x\n  y"}]  # <pre> keeps its lines
    assert "alert" not in str(nodes)


class _Elements(HTMLParser):
    """Every element and attribute in a piece of HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {name: value or "" for name, value in attrs}))


HOSTILE_BITS = st.sampled_from(
    [
        "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<a href='javascript:x'>",
        "[x](javascript:alert(1))", "[d](data:text/html,hi)", "<svg onload=x>", "<iframe>",
        "<style>*{}</style>", '<a href="https://e.example" onclick="x">e</a>', "**b**", "_i_",
        "| a | b |\n|---|---|\n| 1 | 2 |", "\n\n", "`code`", "<!-- c -->", "<p style='x'>",
        "&lt;", "<", ">", '"', "'", "{", "}", "#", "---\ntitle: t\n---\n",
    ]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(HOSTILE_BITS | st.text(max_size=30), max_size=12).map("".join))
def test_no_text_gets_an_element_or_attribute_past_the_allow_list(text: str) -> None:
    try:
        narrative = render_markdown(text, VARIABLES, "content/x.md")
    except ContentError as exc:  # broken template syntax: one line naming the file
        assert str(exc).startswith("content/x.md") and "\n" not in str(exc)
        return
    parser = _Elements()
    parser.feed(narrative.html)
    for tag, attributes in parser.found:
        assert tag in ALLOWED_TAGS, tag
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
        assert set(attributes) <= allowed, (tag, attributes)
        scheme = urlsplit(attributes.get("href", "").strip()).scheme.lower()
        assert scheme in {"", *URL_SCHEMES}, attributes["href"]
