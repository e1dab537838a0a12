"""Rule evaluation speed: 1,000,000 patients x 20 drugs x 50 rules, with reasons kept.

The 28 shipped starter rules plus 22 generated threshold/category rules (written to a YAML
file and loaded like any user file). Target (2-core CI machine): under 10 s.

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

DRUGS = ["standard_care", "clopidogrel", "simvastatin", "metformin", "sotalol", "warfarin", "allopurinol", "carbamazepine",
         "abacavir", "codeine", "hydroxychloroquine", "amoxicillin", "azathioprine", "fluorouracil", "rasburicase",
         "co_trimoxazole", "mercaptopurine", "capecitabine", "tramadol", "atorvastatin"]  # fmt: skip


def patients(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vocab = default_vocabulary()
    table = {"patient_id": np.arange(n)}
    for name, spec in vocab.fields.items():
        if spec["type"] == "number":
            table[name] = rng.normal({"age": 62, "egfr": 70, "qtc_ms": 420, "weight_kg": 80}[name], 20, n)
        elif spec["type"] == "boolean":
            table[name] = rng.random(n) < 0.1
        else:
            values = np.array(spec["values"] + [None], dtype=object)
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
                      "reason": "benchmark rule", "source": "generated"})  # fmt: skip
    return {"rules": rules}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    table = patients(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "extra.yaml"
        path.write_text(yaml.safe_dump(extra_rules(50 - len(RuleSet.default().rules))))
        rules = RuleSet.load(path)
    mask, wall, peak, before = measure(rules.evaluate, table, DRUGS)
    print(f"{args.n:,} patients x {len(DRUGS)} drugs x {len(rules.rules)} rules")
    print(f"masked cells   : {int((~mask.allowed).sum()):,}  flagged: {int(mask.flagged.sum()):,}  "
          f"reasons kept for {sum(len(f.patients) for f in mask.firings):,} (rule, patient) firings")  # fmt: skip
    print(f"patients left with only the reference arm: {len(mask.only_reference):,}")
    print(f"wall time      : {wall:6.2f} s   (target < 10 s)")
    print(f"peak RSS       : {peak / 1024:6.2f} GiB ({before / 1024:.2f} GiB before the call, patient table included)")


if __name__ == "__main__":
    main()
