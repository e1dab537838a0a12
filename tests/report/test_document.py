"""The report's two renderings carry the same content; the HTML page is self-contained."""

import base64
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from causalrx.report.document import Document, Section, inline_html, to_html, to_markdown
from causalrx.report.sections import collapse_duplicates


def _doc(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    fig.savefig(tmp_path / "plot.png")
    plt.close(fig)
    doc = Document("A report", "Decision support only.")
    s = doc.add(Section("first", "First <section>", verdict="Loses to the trivial rule."))
    s.text("Uses `code`, **bold** and *italic*; <script>alert(1)</script> stays text.")
    s.table(pd.DataFrame({"drug": ["b", "a", "c"], "value": [0.5, np.nan, 10.0], "n": [3, 1, 2], "ok": [True, False, True]}), "Caption")
    s.figure(tmp_path / "plot.png", "a plot")
    return doc


def test_markdown_and_html_hold_the_same_sections(tmp_path):
    doc = _doc(tmp_path)
    md, page = to_markdown(doc), to_html(doc)
    assert md.startswith("# A report\n\n> Decision support only.") and "**Loses to the trivial rule.**" in md
    assert "Caption\n\n| drug" in md and "|  10.000 |" in md
    assert "![a plot](plot.png)" in md
    # HTML: every section, the verdict, the disclaimer, escaped text, and the image embedded (no external file)
    assert 'id="first"' in page and "First &lt;section&gt;" in page and "Loses to the trivial rule." in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "<code>code</code>" in page and "<strong>bold</strong>" in page and "<em>italic</em>" in page
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded) == (tmp_path / "plot.png").read_bytes()
    assert not re.search(r'(src|href)="(?!data:|#)', page)  # nothing loaded from outside the page


def test_table_cells_sort_by_value_and_show_missing_as_blank(tmp_path):
    page = to_html(_doc(tmp_path))
    assert '<td data-sort="10.0" class=num>10.000</td>' in page  # shown with 3 decimals, sorted by the exact value
    assert '<td data-sort="" class=num></td>' in page  # NaN: blank, sorted last
    assert '<td data-sort="1">True</td>' in page and '<td data-sort="a">a</td>' in page


def test_inline_html_escapes_before_formatting():
    assert inline_html("a < b & `x<y>`") == "a &lt; b &amp; <code>x&lt;y&gt;</code>"


def test_collapse_duplicates_drops_only_rows_equal_to_dr():
    table = pd.DataFrame({
        "policy": ["p"] * 4 + ["q"] * 2, "estimator": ["DR", "Switch-DR", "DR-os", "IPS", "DR", "Switch-DR"],
        "value": [1.0, 1.0, 1.0 + 1e-12, 1.2, 2.0, 1.9], "lower": [0.5, 0.4, 0.45, 0.6, 1.5, 1.4], "upper": [1.5] * 4 + [2.5, 2.4],
    })  # fmt: skip
    kept, notes = collapse_duplicates(table)
    assert list(kept["estimator"]) == ["DR", "IPS", "DR", "Switch-DR"]
    assert notes == ["p: Switch-DR, DR-os equal to DR"]
    with pytest.raises(KeyError):
        collapse_duplicates(table.drop(columns="value"))
