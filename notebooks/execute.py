"""Execute notebooks in place, top to bottom in a fresh kernel, and save them with their outputs.

    .venv/bin/python notebooks/execute.py notebooks/02_compare_strategies.ipynb [...]

Run it after editing a notebook so that the committed outputs are the ones the test suite
reproduces (``tests/test_notebooks.py``). Each notebook runs in a temporary folder (its plots are
written there and shown inline); cell ids are made stable so that the same outputs give the same file.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 900) -> float:
    """Execute the notebook at ``path`` and overwrite it; returns the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": folder}}).execute()
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
        if cell.cell_type == "code":
            cell.metadata = {}
    nbformat.write(nb, path)
    return time.perf_counter() - start


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for name in sys.argv[1:]:
        print(f"{name}: {execute(Path(name)):.1f} s")
