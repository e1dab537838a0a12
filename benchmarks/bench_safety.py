"""Rule evaluation speed: 1,000,000 patients x 20 drugs x at least 50 rules, with reasons kept.

The 73 shipped starter rules (53 of them concern the 20 drugs below), or with
``--extra N`` also N generated threshold/category rules (written to a YAML file and loaded
like any user file). Patient values are drawn as canonical levels, synonyms (odd case,
abbreviations) and "not recorded" tokens, so the synonym table is read and about a sixth of
the patients leave each genotype rule not evaluable (masked pending data, with the missing
fields named per patient). Target (2-core CI machine): under 10 s.

    .venv/bin/python benchmarks/bench_safety.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure  # noqa: E402

from causalrx.safety import RuleSet  # noqa: E402
from causalrx.safety.rules import default_vocabulary  # noqa: E402

DRUGS = ["standard_care", "clopidogrel", "simvastatin", "metformin", "sotalol", "warfarin", "carbamazepine", "abacavir",
         "codeine", "amoxicillin", "azathioprine", "fluorouracil", "rasburicase", "phenytoin", "voriconazole", "omeprazole",
         "amitriptyline", "meloxicam", "sevoflurane", "gentamicin"]  # fmt: skip


def patients(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vocab = default_vocabulary()
    table = {"patient_id": np.arange(n)}
    for name, spec in vocab.fields.items():
        if spec["type"] == "number":
            centre = {"age": 62, "egfr": 70, "qtc_ms": 420, "weight_kg": 80}.get(name)
            table[name] = rng.normal(centre, 20, n) if centre else rng.choice([0.0, 0.5, 1.0, 1.5, 2.0, np.nan], n)
        elif spec["type"] == "boolean":
            table[name] = rng.random(n) < 0.1
        else:  # levels, their synonyms in odd case, and "not recorded" tokens
            spellings = [v for lv in spec["values"] for v in (lv, lv.upper(), *spec["synonyms"].get(lv, [])[:2])]
            values = np.array(spellings + [None, "unknown"], dtype=object)
            table[name] = values[rng.integers(0, len(values), n)]
    return pd.DataFrame(table)


def extra_rules(count: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    rules = []
    for i in range(count):
        drug = DRUGS[1 + i % (len(DRUGS) - 1)]
        if i % 2:
            when = {"all": [{"field": "egfr", "lt": float(rng.uniform(20, 60))}, {"field": "age", "gt": float(rng.uniform(60, 85))}]}
        else:
            when = {"any": [{"field": "CYP2D6", "in": ["poor"]}, {"not": {"field": "on_nsaid", "is": False}}]}
        rules.append({"id": f"bench-{i:02d}", "drugs": [drug], "when": when, "action": ["contraindicated", "caution"][i % 2],
                      "reason": "benchmark rule", "guideline": "generated", "year": 2026, "strength": "optional",
                      "source": "generated"})  # fmt: skip
    return {"rules": rules}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--extra", type=int, default=0, help="generated rules added to the starter set")
    parser.add_argument("--csv", default=str(Path(__file__).parent / "results" / "bench_safety.csv"),
                        help="where the figures are saved (one row per run is appended)")  # fmt: skip
    args = parser.parse_args()
    table = patients(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "extra.yaml"
        path.write_text(yaml.safe_dump(extra_rules(args.extra)))
        rules = RuleSet.load(path)
    mask, wall, peak, before = measure(rules.evaluate, table, DRUGS, "standard_care")
    concerned = sum(1 for r in rules.rules if set(r.drugs) & set(DRUGS[1:]))
    print(f"{args.n:,} patients x {len(DRUGS)} drugs x {len(rules.rules)} rules ({concerned} concern these drugs)")
    fired = sum(len(f.patients) for f in mask.firings if f.status == "fired")
    undecided = sum(len(f.patients) for f in mask.firings if f.status != "fired")
    print(f"masked cells   : {int((~mask.allowed).sum()):,} (pending data: {int(mask.pending.sum()):,})  flagged: {int(mask.flagged.sum()):,}")
    print(f"reasons kept for {fired:,} (rule, patient) firings and {undecided:,} not-evaluable (rule, patient) pairs")
    print(f"patients left with only the reference arm: {len(mask.only_reference):,}")
    print(f"wall time      : {wall:6.2f} s   (target < 10 s)")
    print(f"peak RSS       : {peak / 1024:6.2f} GiB ({before / 1024:.2f} GiB before the call, patient table included)")
    row = pd.DataFrame([{"date": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"), "patients": args.n, "drugs": len(DRUGS),
                         "rules": len(rules.rules), "rules_concerning_drugs": concerned, "masked_cells": int((~mask.allowed).sum()),
                         "pending_cells": int(mask.pending.sum()), "flagged_cells": int(mask.flagged.sum()), "firings": fired,
                         "not_evaluable_pairs": undecided, "wall_s": round(wall, 3), "peak_gib": round(peak / 1024, 3)}])  # fmt: skip
    path = Path(args.csv)
    row.to_csv(path, mode="a", header=not path.exists(), index=False)
    print(f"saved to {path}")


if __name__ == "__main__":
    main()
