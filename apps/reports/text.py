"""Markdown with LaTeX math, rendered to sanitized HTML.

Math is taken out before Markdown runs, so that `_`, `*` and `\\` inside a
formula are not read as emphasis or escapes, and put back after nh3 has
sanitized the HTML as `<span class="math">` elements holding the escaped
TeX source. The browser typesets those with KaTeX (served from
`static/vendor/katex`); without JavaScript the TeX source shows as text.

Delimiters: `$$...$$` and `\\[...\\]` for display math, `$...$` and
`\\(...\\)` for inline math. A `$` preceded by a backslash, and `$` signs in
code spans and fenced code blocks, are left alone; `\\$` shows as `$`. An inline `$...$` must
not start or end with a space nor contain a backtick, so "costs $5 and $10"
stays text.
"""

from __future__ import annotations

import html
import re
import secrets

import markdown
import nh3

_TOKENS = re.compile(
    r"(?P<fence>^(?P<marks>```|~~~)[^\n]*\n.*?^(?P=marks)[ \t]*$)"
    r"|(?P<code>(?P<ticks>`+).+?(?P=ticks))"
    r"|(?P<dollar>\\\$)"
    r"|(?<!\\)\$\$(?P<display>.+?)(?<!\\)\$\$"
    r"|\\\[(?P<bracket>.+?)\\\]"
    r"|\\\((?P<paren>.+?)\\\)"
    r"|(?<![\\$])\$(?P<inline>[^\s$`](?:[^$`\n]*?[^\s\\$`])?)\$(?!\d)",
    re.DOTALL | re.MULTILINE,
)


def render_markdown_math(text: str) -> str:
    """Render Markdown with math to sanitized HTML; see the module docstring."""
    nonce = secrets.token_hex(6)
    formulas: list[tuple[str, bool]] = []

    def hide(match: re.Match[str]) -> str:
        if match.group("fence") is not None or match.group("code") is not None:
            return match.group(0)
        if match.group("dollar") is not None:
            return "&#36;"
        display = match.group("display") or match.group("bracket")
        source = (
            display
            if display is not None
            else (match.group("paren") or match.group("inline") or "")
        )
        formulas.append((source.strip(), display is not None))
        return f"dstackmath{nonce}n{len(formulas) - 1}x"

    protected = _TOKENS.sub(hide, text)
    rendered = markdown.markdown(
        protected, extensions=["extra", "sane_lists"], output_format="html"
    )
    clean = nh3.clean(rendered)

    def show(match: re.Match[str]) -> str:
        source, display = formulas[int(match.group(1))]
        mode = "display" if display else "inline"
        return (
            f'<span class="math math-{mode}" data-math="{mode}">'
            f"{html.escape(source, quote=False)}</span>"
        )

    return re.sub(f"dstackmath{nonce}n(\\d+)x", show, clean)
