"""Fuzz the decision-support service against its own OpenAPI schema with Schemathesis and count server errors.

A small bundle (800 simulated patients, 9 arms) is exported to a temporary folder and served
in-process; every operation of ``/openapi.json`` gets ``--examples`` generated requests
(Hypothesis, derandomised) with an admin token. Requests and responses per operation and
status go to ``benchmarks/results/api_fuzz.csv``; any 5xx fails the run.

    .venv/bin/python benchmarks/fuzz_api.py [--examples 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.api.test_fuzz import fuzz, fuzz_app  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=300, help="generated requests per operation")
    args = parser.parse_args()
    from causalrx.api import export_bundle
    from causalrx.data.simulate import simulate_cohort

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bundle = export_bundle(simulate_cohort(n=800, n_drugs=9, random_state=0, ecg=False).cohort, folder / "bundle", n_estimators=16,
                               n_folds=2)  # fmt: skip
        seen = fuzz(fuzz_app(bundle, folder), args.examples)
    table = pd.DataFrame([{"operation": op, "status": status, "requests": n} for (op, status), n in sorted(seen.items())])
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "api_fuzz.csv", index=False)
    with pd.option_context("display.width", 200):
        print(table.to_string(index=False))
    errors = int(table.loc[table["status"] >= 500, "requests"].sum())
    print(f"\n{int(table['requests'].sum())} requests over {table['operation'].nunique()} operations, {errors} server errors (5xx); "
          f"{time.perf_counter() - start:.0f} s; saved to {RESULTS / 'api_fuzz.csv'}")  # fmt: skip


if __name__ == "__main__":
    main()
