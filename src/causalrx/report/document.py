"""One report, two renderings: the sections of ``causalrx run`` as Markdown and as a
self-contained HTML page (plots embedded, tables sortable), from the same content.

A :class:`Section` holds an optional *verdict* (a sentence shown first, e.g. that the
stage's estimates lose to a trivial rule) and blocks: :class:`Text` (Markdown-lite:
```code``, ``**bold**``, ``*italic*``), :class:`Table` and :class:`Figure`.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    caption: str = ""
    floatfmt: str = ".3f"


@dataclass(frozen=True)
class Figure:
    path: Path
    alt: str


@dataclass
class Section:
    key: str
    title: str
    blocks: list = field(default_factory=list)
    verdict: str | None = None

    def text(self, *lines: str) -> Section:
        self.blocks.append(Text(" ".join(lines)))
        return self

    def table(self, frame: pd.DataFrame, caption: str = "", floatfmt: str = ".3f") -> Section:
        self.blocks.append(Table(frame.reset_index(drop=True), caption, floatfmt))
        return self

    def figure(self, path: Path, alt: str) -> Section:
        self.blocks.append(Figure(Path(path), alt))
        return self


@dataclass
class Document:
    title: str
    disclaimer: str
    sections: list[Section] = field(default_factory=list)

    def add(self, section: Section) -> Section:
        self.sections.append(section)
        return section


# ---------------------------------------------------------------- Markdown
def to_markdown(doc: Document) -> str:
    lines = [f"# {doc.title}", "", f"> {doc.disclaimer}", ""]
    for s in doc.sections:
        lines += [f"## {s.title}", ""]
        if s.verdict:
            lines += [f"**{s.verdict}**", ""]
        for b in s.blocks:
            if isinstance(b, Text):
                lines += [b.text, ""]
            elif isinstance(b, Table):
                if b.caption:
                    lines += [b.caption, ""]
                lines += [b.frame.to_markdown(index=False, floatfmt=b.floatfmt), ""]
            else:
                lines += [f"![{b.alt}]({b.path.name})", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- HTML
_CODE, _BOLD, _EM = re.compile(r"`([^`]+)`"), re.compile(r"\*\*([^*]+)\*\*"), re.compile(r"\*([^*]+)\*")


def inline_html(text: str) -> str:
    """Markdown-lite to HTML: escapes everything, then ``code``, **bold**, *italic*."""
    out = html.escape(text, quote=False)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _EM.sub(r"<em>\1</em>", out)


def _cell(value, floatfmt: str) -> tuple[str, str]:
    """(shown text, sort key) of one table cell."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)), str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(value), repr(int(value))
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "", ""
        return format(float(value), floatfmt), repr(float(value))
    return str(value), str(value)


def table_html(table: Table) -> str:
    frame = table.frame
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for value in record:
            shown, key = _cell(value, table.floatfmt)
            numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            cells.append(f'<td data-sort="{html.escape(key)}"{" class=num" if numeric else ""}>{html.escape(shown)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = f'<p class="caption">{inline_html(table.caption)}</p>' if table.caption else ""
    return f'{caption}<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def figure_html(figure: Figure) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    mime = "image/svg+xml" if figure.path.suffix == ".svg" else "image/png"
    alt = html.escape(figure.alt)
    return f'<figure><img src="data:{mime};base64,{data}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'


def to_html(doc: Document) -> str:
    """The document as one self-contained HTML page (no external files, scripts or fonts)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("causalrx.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    sections = []
    for s in doc.sections:
        parts = []
        for b in s.blocks:
            if isinstance(b, Text):
                parts.append(f"<p>{inline_html(b.text)}</p>")
            elif isinstance(b, Table):
                parts.append(f'<div class="table-wrap">{table_html(b)}</div>')
            else:
                parts.append(figure_html(b))
        sections.append({"key": s.key, "title": s.title, "verdict": s.verdict, "body": "\n".join(parts)})
    return env.get_template("report.html.j2").render(title=doc.title, disclaimer=doc.disclaimer, sections=sections)
