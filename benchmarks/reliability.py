"""Reliability cases: masked drugs that could leak, rule files that could switch rules off,
saves that could lose data, inputs that could pass unchecked, and CLI misuse.

Each case is run as a user would run it and its observed outcome is recorded (a named
error, a count of masked picks, whether the previous copy still loads, an exit status).
Results go to ``benchmarks/results/reliability.csv`` (one row per case, with the git
revision), so the same script run on an older revision shows what changed.

    .venv/bin/python benchmarks/reliability.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from causalrx.data import Cohort
from causalrx.data.simulate import simulate_cohort
from causalrx.effects import EffectEstimate
from causalrx.safety import RuleSet, masked_argmax, masked_softmax, restrict

CASES = []


def case(name):
    def register(fn):
        CASES.append((name, fn))
        return fn

    return register


def outcome(fn) -> str:
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            result = fn()
        flagged = [type(w.message).__name__ for w in seen if "Overlap" in type(w.message).__name__ or "Override" in type(w.message).__name__]
        return str(result) + (f" [warned: {', '.join(sorted(set(flagged)))}]" if flagged else "")
    except Exception as err:  # noqa: BLE001 - the outcome is what is recorded
        text = " ".join(str(err).split())
        return f"{type(err).__name__}: {text[:160]}"


SIM = simulate_cohort(n=600, n_drugs=6, random_state=0, ecg_seconds=2.0)
COHORT = SIM.cohort
MASK = RuleSet.default().evaluate(COHORT)
TMP = Path(tempfile.mkdtemp())


def masked_picks(drugs_by_row, ids=None) -> str:
    ids = MASK.patient_ids if ids is None else ids
    bad = sum(not MASK.allowed[MASK.row(p), MASK.column(d)] for p, d in zip(ids, drugs_by_row))
    return f"{bad} masked pick(s) of {len(ids)}"


# ------------------------------------------------------------------ safety helpers
case("masked_argmax([[5, -inf, -inf]], mask [F, T, T])")(lambda: f"drug {masked_argmax([[5.0, -np.inf, -np.inf]], [[False, True, True]])[0]} (allowed: 1, 2)")
case("restrict(all mass on masked drug 0, fallback=0)")(lambda: restrict([[1.0, 0.0, 0.0]], [[False, True, True]], fallback=0))
case("masked_softmax(+inf, -inf, tiny temperature)")(
    lambda: np.round(masked_softmax([[np.inf, -np.inf, 1.0], [1.0, 2.0, 3.0]], [[True, True, False], [True, True, False]], 1e-300), 3).tolist())


@case("recommend(effect with ids, mask, patient_ids=permutation)")
def _recommend_perm():
    from causalrx.recommend import recommend

    ite = SIM.truth.ite_net
    est = EffectEstimate(ite, ite, ite, ite.mean(0), ite.mean(0), ite.mean(0), "truth", COHORT.action_names,
                         patient_ids=COHORT.patient_ids)  # fmt: skip
    perm = np.random.default_rng(0).permutation(COHORT.patient_ids)
    table = recommend(est, MASK, patient_ids=perm).table
    chosen = table[table["tier"] == "recommended"]
    return masked_picks(chosen["drug"], chosen["patient_id"])


@case("GuidelinePolicy with a Mask whose patients are shuffled")
def _guideline_shuffled():
    from causalrx.policy import GuidelinePolicy

    names = COHORT.action_names
    policy = GuidelinePolicy([{"id": "all", "prefer": list(names[1:])}], action_names=names)
    fields = COHORT.clinical.merge(COHORT.genomics, on="patient_id", how="left")
    rows = fields.sample(frac=1.0, random_state=0)
    picks = np.asarray(policy.predict(rows, MASK.reindex(patient_ids=np.random.default_rng(1).permutation(MASK.patient_ids))))
    return masked_picks(np.asarray(names)[picks], rows["patient_id"])


@case("GuidelinePolicy with the reference arm masked (bool mask)")
def _guideline_reference():
    from causalrx.policy import GuidelinePolicy

    names = COHORT.action_names
    blocked = MASK.allowed.copy()
    blocked[:, 0] = False
    return GuidelinePolicy([{"id": "all", "prefer": [names[1]]}], action_names=names).predict(COHORT.clinical, blocked)[:5]


def _fitted_policies():
    from causalrx.data.problem import DecisionProblem
    from causalrx.policy import DRPolicyLearner, LoggedPolicy, PolicyTreeLearner

    Z = SIM.bandit_feedback().context
    X = pd.DataFrame(Z, index=pd.Index(COHORT.patient_ids, name="patient_id"), columns=[f"z{j}" for j in range(Z.shape[1])])
    problem = DecisionProblem.from_cohort(COHORT, X, reward="efficacy", mask=MASK)
    return X, {"logged": LoggedPolicy(calibration=None).fit(problem),
               "policy tree": PolicyTreeLearner(max_depth=2, n_folds=2, random_state=0).fit(problem),
               "DR bandit": DRPolicyLearner(epochs=30, n_folds=2, random_state=0).fit(problem)}  # fmt: skip


@case("policy fitted with a mask, then predict(Z) without one")
def _policy_without_mask():
    X, policies = _fitted_policies()
    return "; ".join(f"{name}: {outcome(lambda p=p: masked_picks(np.asarray(COHORT.action_names)[p.predict(X.to_numpy())]))}"
                     for name, p in policies.items())  # fmt: skip


# ------------------------------------------------------------------ rule files
def rule_file(text: str):
    def run():
        path = TMP / "user_rules.yaml"
        path.write_text(text)
        return f"loaded {len(RuleSet.load(path).rules)} rules"

    return run


RULE = "    reason: r\n    guideline: g\n    year: 2020\n    strength: strong\n    source: s\n"
case("vocabulary redefines CYP2C19 levels")(rule_file("vocabulary:\n  fields:\n    CYP2C19: {type: category, values: [fast, slow]}\nrules: []\n"))
case("vocabulary redefines CYP2C19 levels with override: true")(
    rule_file("vocabulary:\n  fields:\n    CYP2C19: {type: category, values: [fast, slow], override: true}\nrules: []\n"))
case("duplicate key (action: contraindicated, then caution)")(
    rule_file("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, lt: 30}\n    action: contraindicated\n    action: caution\n" + RULE))
case("threshold lt: .nan")(rule_file("rules:\n  - id: x\n    drugs: [metformin]\n    when: {field: egfr, lt: .nan}\n    action: contraindicated\n" + RULE))
case("unknown top-level key")(rule_file("rulez: []\nrules: []\n"))


@case("contraindicating rule on the reference arm")
def _reference_rule():
    table = pd.DataFrame({"patient_id": [1, 2], "egfr": [20.0, 50.0]})
    mask = RuleSet.default().evaluate(table, ("metformin", "insulin"), "metformin")
    return f"metformin allowed for eGFR 20: {bool(mask.allowed[0, 0])}"


# ------------------------------------------------------------------ persistence
def _store(name: str) -> Path:
    folder = TMP / name
    shutil.rmtree(folder, ignore_errors=True)
    return COHORT.save(folder)


def _previous_loads(folder: Path) -> str:
    try:
        back = Cohort.load(folder)
        return "previous copy loads" if back.clinical.equals(COHORT.clinical) else "a different cohort loads"
    except Exception as err:  # noqa: BLE001
        return f"previous copy unreadable ({type(err).__name__})"


def _failing_save(change):
    def run():
        folder = _store("failing")
        raised = outcome(lambda: Cohort(**change()).save(folder))
        return f"{raised} -> {_previous_loads(folder)}"

    return run


def _parts(**over):
    parts = {"clinical": COHORT.clinical, "action_names": COHORT.action_names, "treatments": COHORT.treatments,
             "outcomes": COHORT.outcomes}  # fmt: skip
    parts.update(over)
    return parts


def _other(**over):
    """Another cohort (the first 300 patients, with variants) to save over the stored one."""
    keep = COHORT.patient_ids[:300]
    parts = {name: getattr(COHORT, name)[lambda t: t["patient_id"].isin(keep)] for name in ("clinical", "treatments", "outcomes")}
    return {**parts, "action_names": COHORT.action_names, "variants": COHORT.variants, **over}


case("save fails part-way: non-JSON metadata")(_failing_save(lambda: _other(metadata={"when": pd.Timestamp("2026-01-01")})))
case("save fails part-way: mixed object column (variants)")(
    _failing_save(lambda: _other(variants=COHORT.variants.assign(note=[1] + ["a"] * (len(COHORT.variants) - 1)))))


@case("save into a non-empty folder of the user's files")
def _foreign():
    folder = TMP / "mine"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "clinical.parquet").write_bytes(b"mine")
    raised = outcome(lambda: COHORT.save(folder))
    return f"{raised} -> user file intact: {(folder / 'clinical.parquet').read_bytes() == b'mine'}"


@case("save a smaller cohort over a store: stale files")
def _stale():
    folder = _store("stale")
    small = Cohort(**_parts())
    small.save(folder)
    return f"files left: {sorted(p.name for p in folder.iterdir())}"


def _manifest_edit(edit):
    def run():
        folder = _store("edited")
        manifest = json.loads((folder / "manifest.json").read_text())
        edit(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))
        back = Cohort.load(folder)
        return f"loaded: {back.n_patients} patients, genomics {'present' if back.genomics is not None else 'absent'}, reference {back.reference}"

    return run


case("manifest: genomics entry removed")(_manifest_edit(lambda m: m["tables"].pop("genomics")))
case("manifest: reference changed")(_manifest_edit(lambda m: m.update(reference=m["action_names"][2])))
case("manifest: action_names reordered")(_manifest_edit(lambda m: m["action_names"].reverse()))
case("manifest: entry points at another table")(_manifest_edit(lambda m: m["tables"]["clinical"].update(file="outcomes.parquet")))
case("manifest: entry points outside the store (../)")(_manifest_edit(lambda m: m["tables"]["clinical"].update(file="../clinical.parquet")))
case("manifest: ecg n_samples edited")(_manifest_edit(lambda m: m["ecg"].update(n_samples=7)))


@case("round trip: object, None, Int64 columns and metadata")
def _round_trip():
    ids = ["a", "b"]
    clinical = pd.DataFrame({"patient_id": pd.Series(ids, dtype=object), "note": pd.Series(["x", None], dtype=object),
                             "empty": pd.Series([None, None], dtype=object), "count": pd.array([1, None], dtype="Int64")})  # fmt: skip
    cohort = Cohort(clinical=clinical, action_names=("a0", "a1"), treatments=pd.DataFrame({"patient_id": ids, "visit": 0, "drug": "a0"}),
                    outcomes=pd.DataFrame({"patient_id": ids, "visit": 0, "y": 1.0}), metadata={"k": [1, None]})  # fmt: skip
    back = Cohort.load(cohort.save(TMP / "types"))
    return f"dtypes kept: {dict(back.clinical.dtypes.astype(str)) == dict(clinical.dtypes.astype(str))}; metadata kept: {back.metadata == cohort.metadata}"


@case("metadata with a tuple and an integer key")
def _metadata():
    return Cohort(**_parts(metadata={"t": (1, 2), 3: "x"})).save(TMP / "meta")


# ------------------------------------------------------------------ inputs
def _cohort_with(table: str, column: str, values):
    def run():
        frame = getattr(COHORT, table).copy()
        frame[column] = pd.Series(values, dtype=object) if any(isinstance(v, str) for v in values) else values
        cohort = Cohort(**_parts(**{table: frame}))
        return f"accepted; feature_table has {cohort.feature_table().shape[1]} columns"

    return run


N = COHORT.n_patients
case("age = 'seventy'")(_cohort_with("clinical", "age", ["seventy"] + list(COHORT.clinical["age"].iloc[1:])))
case("egfr = '25 mL/min' (text with units)")(_cohort_with("clinical", "egfr", [f"{v:.0f} mL/min" for v in COHORT.clinical["egfr"]]))
case("infinite outcome")(_cohort_with("outcomes", "efficacy", [np.inf] + list(COHORT.outcomes["efficacy"].iloc[1:])))
case("visit of 0.5")(_cohort_with("treatments", "visit", [0.5] + [0] * (N - 1)))
case("empty cohort")(lambda: Cohort(**_parts(clinical=COHORT.clinical.iloc[:0], treatments=COHORT.treatments.iloc[:0],
                                            outcomes=COHORT.outcomes.iloc[:0])).n_patients)  # fmt: skip


def _ips(n, tiny=None, inference=None, estimator="IPS"):
    def run():
        from causalrx import ope
        from causalrx.data.feedback import BanditFeedback

        rng = np.random.default_rng(0)
        pscore = np.full(n, 0.5)
        if tiny is not None:
            pscore[0] = tiny
        action = np.r_[1, rng.integers(0, 2, n - 1)] if n else np.array([], int)
        feedback = BanditFeedback(context=np.zeros((n, 1)), action=action, reward=rng.normal(size=n), pscore=pscore, action_names=("a", "b"))
        value = getattr(ope, estimator)().estimate(feedback, np.tile([0.0, 1.0], (n, 1)), inference=inference)
        return f"{value.value:.3g} [{value.lower:.3g}, {value.upper:.3g}]"

    return run


case("IPS with pscore = 1e-300 (n = 200)")(_ips(200, 1e-300))
case("SNIPS with pscore = 1e-300 (n = 200)")(_ips(200, 1e-300, estimator="SNIPS"))


def _bootstrap(n):
    from causalrx.ope import Bootstrap

    return _ips(n, inference=Bootstrap(n_bootstrap=100, random_state=0))


case("bootstrap interval on n = 1")(lambda: _bootstrap(1)())
case("interval on n = 0")(lambda: _bootstrap(0)())


# ------------------------------------------------------------------ CLI
def cli(*args) -> str:
    result = subprocess.run([sys.executable, "-m", "causalrx.cli", *args], capture_output=True, text=True, cwd=TMP)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip() and "%|" not in line]
    traceback = any("Traceback" in line for line in lines)
    return f"exit {result.returncode}, {len(lines)} line(s){', traceback' if traceback else ''}: {lines[-1][:140] if lines else ''}"


case("causalrx simulate --n -5")(lambda: cli("simulate", "--n", "-5", "--out", str(TMP / "s")))


@case("causalrx simulate --out <a file>")
def _out_file():
    (TMP / "a_file").write_text("x")
    return cli("simulate", "--n", "50", "--drugs", "3", "--no-ecg", "--out", str(TMP / "a_file"))


@case("config ecg: \"false\" (quoted)")
def _config_bool():
    cfg = TMP / "c.yaml"
    cfg.write_text('n: 200\nn_drugs: 3\necg: "false"\nencoder: none\npolicies: false\n')
    out = cli("run", "--config", str(cfg), "--out", str(TMP / "run_bool"))
    ecg = (TMP / "run_bool" / "config.yaml").read_text().split("ecg:")[1].split()[0] if (TMP / "run_bool" / "config.yaml").exists() else "-"
    return f"{out}; saved ecg setting: {ecg}"


@case("SIGINT during a rerun into an existing output folder")
def _sigint():
    import os
    import signal
    import time

    cfg = TMP / "fast.yaml"
    cfg.write_text("n: 300\nn_drugs: 3\necg: false\nencoder: none\npolicies: false\n")
    out = TMP / "run_int"
    subprocess.run([sys.executable, "-m", "causalrx.cli", "run", "--config", str(cfg), "--out", str(out)], capture_output=True, cwd=TMP)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = subprocess.Popen([sys.executable, "-m", "causalrx.cli", "run", "--config", str(cfg), "--out", str(out), "--seed", "7",
                             "--n", "3000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=TMP)  # fmt: skip

    def started() -> bool:  # the rerun has written its new config (beside the folder, or into it)
        staged = list(TMP.glob(".run_int.partial-*/config.yaml"))
        return bool(staged) or (out / "config.yaml").read_bytes() != before["config.yaml"]

    deadline = time.time() + 120
    while time.time() < deadline and not started():
        time.sleep(0.05)
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    proc.wait(60)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    mixed = sorted(name for name in after if before.get(name) != after[name])
    return f"exit {proc.returncode}; files changed in the old folder: {mixed or 'none'}; partial folders left: {len(list(TMP.glob('.run_int.partial-*')))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default=str(Path(__file__).parent / "results" / "reliability.csv"))
    args = parser.parse_args()
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    rows = []
    for name, fn in CASES:
        rows.append({"git": rev, "case": name, "outcome": outcome(fn)})
        print(f"{name:62s} {rows[-1]['outcome']}")
    path = Path(args.csv)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, mode="a", header=not path.exists(), index=False)
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
