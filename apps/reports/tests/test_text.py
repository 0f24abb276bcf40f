"""Markdown with math: which dollar signs are math, and what stays sanitized."""

from __future__ import annotations

import pytest

from apps.reports.text import render_markdown_math


def inline(source: str) -> str:
    return f'<span class="math math-inline" data-math="inline">{source}</span>'


def display(source: str) -> str:
    return f'<span class="math math-display" data-math="display">{source}</span>'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$a_1 + b_2$", inline("a_1 + b_2")),
        ("$$\\sum_{i=1}^n x_i^2$$", display("\\sum_{i=1}^n x_i^2")),
        ("\\(x\\)", inline("x")),
        ("\\[y\\]", display("y")),
        ("$x < y$", inline("x &lt; y")),
        ("$*a* and *b*$", inline("*a* and *b*")),
    ],
)
def test_math_is_kept_out_of_markdown(text: str, expected: str) -> None:
    assert expected in render_markdown_math(text)


@pytest.mark.parametrize(
    "text",
    [
        "costs $5 and $10",
        "a \\$ sign",
        "`$x$` in code",
        "```\n$y$\n```",
        "$ spaced $",
    ],
)
def test_dollars_that_are_not_math_stay_text(text: str) -> None:
    assert "math" not in render_markdown_math(text)


def test_escaped_dollar_shows_as_a_dollar() -> None:
    assert render_markdown_math("a \\$ sign") == "<p>a $ sign</p>"


def test_html_around_math_is_sanitized() -> None:
    html = render_markdown_math(
        "<script>alert(1)</script> $x$ <img src=x onerror=alert(1)>"
    )

    assert "<script" not in html
    assert "onerror" not in html
    assert inline("x") in html


def test_math_cannot_inject_markup() -> None:
    html = render_markdown_math("$</span><script>alert(1)</script>$")

    assert "<script" not in html
    assert "&lt;/span&gt;&lt;script&gt;" in html
