"""Open a ``report.html`` in headless Chromium and check that it renders: no console or page
errors, every section and image shown, and a table that sorts when its header is clicked.

Needs Playwright (``pip install causalrx[dev]``) and a Chromium binary (Debian:
``apt-get install chromium``); Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # fmt: skip


def find_chromium() -> str | None:
    """``$CHROMIUM``, else the first of chromium / chromium-browser / google-chrome on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True)
class PageCheck:
    errors: list
    sections: list
    hidden_sections: list
    broken_images: int
    images: int
    sorted_ok: bool
    screenshot: Path | None

    @property
    def ok(self) -> bool:
        return not self.errors and not self.hidden_sections and self.broken_images == 0 and self.sorted_ok and bool(self.sections)


def check_report(path: str | Path, screenshot: str | Path | None = None, *, width: int = 1280, full_page: bool = True) -> PageCheck:
    """Render ``path`` and check it (see the module docstring); save a screenshot when asked."""
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium found (set $CHROMIUM or install chromium)")
    url = Path(path).resolve().as_uri()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(url, wait_until="load")
            sections = page.eval_on_selector_all("main section", "els => els.map(e => e.id)")
            hidden = page.eval_on_selector_all("main section", "els => els.filter(e => e.offsetHeight === 0).map(e => e.id)")
            images = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
            sorted_ok = _sorts(page)
            shot = None
            if screenshot is not None:
                shot = Path(screenshot)
                shot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shot), full_page=full_page)
        finally:
            browser.close()
    return PageCheck(errors=errors, sections=sections, hidden_sections=hidden, broken_images=images.count(False), images=len(images),
                     sorted_ok=sorted_ok, screenshot=shot)  # fmt: skip


def _sorts(page) -> bool:
    """Click the first numeric column header of the first table with at least 3 rows; its cells
    must then be in ascending order, and in descending order after a second click."""
    found = page.evaluate("""() => {
        const tables = Array.from(document.querySelectorAll("table.sortable")).filter(t => t.tBodies[0].rows.length >= 3);
        for (const [ti, t] of tables.entries()) {
            const row = t.tBodies[0].rows[0];
            for (let c = 0; c < row.cells.length; c++) {
                if (row.cells[c].classList.contains("num")) { return [Array.from(document.querySelectorAll("table.sortable")).indexOf(t), c]; }
            }
        }
        return null;
    }""")
    if found is None:
        return True  # nothing to sort
    table, column = found
    header = page.locator("table.sortable").nth(table).locator("thead th").nth(column)
    read = f"""() => Array.from(document.querySelectorAll("table.sortable")[{table}].tBodies[0].rows)
                   .map(r => r.cells[{column}].getAttribute("data-sort")).filter(v => v !== "").map(Number)"""
    header.click()
    up = page.evaluate(read)
    header.click()
    down = page.evaluate(read)
    return up == sorted(up) and down == sorted(down, reverse=True)
