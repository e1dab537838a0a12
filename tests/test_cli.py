"""The causalrx command end to end."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from causalrx.cli import app
from causalrx.data.simulate import SimulatedCohort
from causalrx.disclaimer import DISCLAIMER

runner = CliRunner()


def test_run_writes_report(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--out", str(out), "--n", "800", "--drugs", "5", "--seed", "1"])
    assert result.exit_code == 0, result.output
    for name in ("config.yaml", "report.md", "report.html", "effects.csv", "treatments.csv", "missingness.csv", "effects.png", "summary.json",
                 "risk.csv", "calibration.png", "effects_vs_truth.csv", "policies.csv", "policies.png", "recommendations.csv",
                 "safety_rules.csv", "drivers_fidelity.csv", "fairness.csv", "fairness.png", "recommendation_fairness.csv",
                 "recommendation_tiers.csv"):  # fmt: skip
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert DISCLAIMER in report and "## Risk model (encoder)" in report and "## Safety audit of the logged prescriptions" in report
    risk = pd.read_csv(out / "risk.csv").set_index("metric")
    assert 0.5 < risk.loc["auroc", "estimate"] <= 1 and risk.loc["auroc", "lower"] <= risk.loc["auroc", "estimate"]
    effects = pd.read_csv(out / "effects_vs_truth.csv")
    assert set(effects["covariates"]) == {"prepared features", "fusion embedding (out of fold)"} and (effects["sqrt_pehe"] > 0).all()
    # the constant-effect rule's score is computed, not copied: sqrt(PEHE) of a constant c is sqrt(sd^2 + (c - mean)^2)
    assert np.allclose(effects["constant_ate_sqrt_pehe"] ** 2,
                       effects["true_effect_sd"] ** 2 + (effects["estimated_ate"] - effects["true_ate"]) ** 2)  # fmt: skip
    assert (effects["beats_constant"] == (effects["sqrt_pehe"] < effects["constant_ate_sqrt_pehe"])).all()
    assert "## Policies (off-policy comparison)" in report and "best single drug" in report
    table = pd.read_csv(out / "policies.csv")
    learned = table[table["policy"].isin(["effect-greedy", "policy tree", "DR bandit", "best single drug"])]
    assert learned["policy"].nunique() == 4 and (learned["mask_violations"] == 0).all() and learned["true_value"].notna().all()
    fair = pd.read_csv(out / "fairness.csv")
    assert set(fair["measure"]) == {"value", "benefit"}
    fair = fair[fair["measure"] == "value"]
    assert set(fair["grouping"]) == {"sex", "age band", "centre", "TLR7 dosage"} and set(fair["policy"]) == set(table["policy"])
    # X-escape genotype, sex-aware: men carry 0 or 1 copy, women 0-2; patients without genomics form "(missing)"
    assert set(fair.loc[fair["grouping"] == "TLR7 dosage", "subgroup"]) <= {"M 0", "M 1", "F 0", "F 1", "F 2", "(missing)"}
    assert fair.groupby(["grouping", "policy"])["patients"].sum().eq(800).all()  # every patient in one subgroup per grouping
    assert (fair["joint_lower"] <= fair["lower"]).all() and (fair["true_regret"] > -1e-9).all()  # the masked oracle is best everywhere
    assert fair["joint_covered"].mean() > 0.8 and "Is anyone worse served?" in report
    assert "## Recommendations" in report and "trivial rule:" in report and "worse served by the recommendations" in report
    rec_fair = pd.read_csv(out / "recommendation_fairness.csv")
    rec_value = rec_fair[rec_fair["measure"] == "value"]
    assert rec_value.groupby("grouping")["patients"].sum().eq(800).all() and (rec_value["true_regret"] > -1e-9).all()
    assert "estimate" not in rec_fair  # in-sample tiers: no (optimistic) DR estimate is reported for them
    rec_tiers = pd.read_csv(out / "recommendation_tiers.csv")
    assert np.allclose(rec_tiers.groupby(["grouping", "subgroup", "drug"])["share"].sum(), 1.0)
    assert ((rec_tiers["lower"] <= rec_tiers["share"]) & (rec_tiers["share"] <= rec_tiers["upper"])).all()
    tiers = pd.read_csv(out / "recommendations.csv", keep_default_na=False)
    assert len(tiers) == 800 * 5 and (tiers[tiers["tier"] == "recommended"].groupby("patient_id").size() == 1).all()
    assert tiers["patient_id"].nunique() == 800 and (tiers.loc[tiers["tier"] == "contraindicated", "reason"] != "").all()
    assert tiers.loc[tiers["drug"] != "standard_care", "drivers"].str.match(r"^[^,]+ \([+-]").mean() > 0.9  # signed drivers
    summary = json.loads((out / "summary.json").read_text())
    modes = {row["mode"]: row for row in summary["recommendations"]["checks"]}
    assert modes["best point estimate (default)"]["masked_drugs_recommended"] == 0
    assert modes["require_benefit=True"]["masked_drugs_recommended"] == 0
    assert summary["counts"]["patients"] == 800 and summary["disclaimer"] == DISCLAIMER
    assert {"risk", "effects_vs_truth", "policies", "safety", "stages", "versions"} <= set(summary)
    assert [s["stage"] for s in summary["stages"] if s["status"] == "ran"] == ["simulate", "safety audit", "encoder and risk model",
                                                                               "effects", "policies", "recommendations"]  # fmt: skip
    fidelity = pd.read_csv(out / "drivers_fidelity.csv")
    assert set(fidelity["method"]) == {"shap", "linear"} and fidelity["recall_at_3"].between(0, 1).all()
    assert list(pd.read_csv(out / "effects.csv")["drug"]) == ["clopidogrel", "simvastatin", "metformin", "sotalol"]
    _check_in_browser(out / "report.html", tmp_path / "report.png")


def _check_in_browser(page, screenshot):
    """The HTML report in headless Chromium: no console errors, every section shown, images loaded, a table sorts.
    CI installs Chromium; elsewhere the check is skipped when no Chromium or Playwright is found."""
    import os

    from causalrx.report.browser import check_report, find_chromium

    try:
        import playwright  # noqa: F401
    except ImportError:
        playwright = None
    if (find_chromium() is None or playwright is None) and not os.environ.get("CI"):
        pytest.skip("no Chromium or Playwright here (CI has both)")
    check = check_report(page, screenshot)
    assert check.errors == [] and check.hidden_sections == [] and check.broken_images == 0 and check.images == 4
    assert check.sorted_ok
    assert check.sections == ["cohort", "naive", "risk", "effects", "policies", "recommendations", "safety", "configuration"]
    assert screenshot.stat().st_size > 50_000  # a full page, not a blank one


def test_bad_settings_fail_before_any_work(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the simulation started before the settings were checked")

    monkeypatch.setattr("causalrx.data.simulate.simulate_cohort", never)
    for text, message in [("encoder_folds: 2\n", "encoder_folds must be at least 3 for encoder 'fusion'"),
                          ("horizon: 2\n", "policies needs horizon 1"), ("preset: fast\n", "preset must be one of ['full', 'quick']"),
                          ("encoder: resnet\n", "encoder must be 'none' or one of"), ("n: 20\n", "n must be at least 200 patients"),
                          ("effect_trees: 10\n", "effect_trees must be a multiple of 4")]:  # fmt: skip
        cfg = tmp_path / "c.yaml"
        cfg.write_text(text)
        assert message in _one_error_line(runner.invoke(app, ["run", "--config", str(cfg), "--out", str(tmp_path / "o")]))
    assert not (tmp_path / "o").exists()


def test_run_takes_the_backend_for_its_inner_loops(tmp_path, monkeypatch):
    from causalrx import execution

    seen = []

    def record(cfg, out, **kwargs):
        seen.append((execution.resolve_backend(), execution._configured().get("n_jobs")))
        return {"report_html": tmp_path / "report.html", "report": tmp_path / "report.md"}

    monkeypatch.setattr("causalrx.report.run.run_job", record)
    monkeypatch.delenv("CAUSALRX_BACKEND", raising=False)
    assert runner.invoke(app, ["run", "--out", str(tmp_path / "o"), "--backend", "serial"]).exit_code == 0
    assert runner.invoke(app, ["run", "--out", str(tmp_path / "o"), "--backend", "joblib", "--jobs", "2"]).exit_code == 0
    assert seen == [(("serial", None), None), (("joblib", None), 2)] and not execution._SETTINGS  # restored afterwards
    assert "backend: expected one of" in _one_error_line(runner.invoke(app, ["run", "--out", str(tmp_path / "o"), "--backend", "dask"]))
    assert "only the ray backend" in _one_error_line(runner.invoke(app, ["run", "--out", str(tmp_path / "o"), "--address", "auto"]))


def test_run_help_lists_every_config_key():
    from causalrx.report.config import KEYS, RunConfig

    text = " ".join(runner.invoke(app, ["run", "--help"], terminal_width=200).output.split())
    assert set(KEYS) == {f.name for f in __import__("dataclasses").fields(RunConfig)}
    for key in KEYS:
        assert re.search(rf"(^|\s){key}: ", text), key
    assert "--preset" in text


def test_run_from_config_file_and_bad_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("n = 500\nn_drugs = 3\necg = false\nsave_cohort = true\nencoder = \"none\"\npolicies = false\n")
    result = runner.invoke(app, ["run", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    sim = SimulatedCohort.load(tmp_path / "o" / "data")
    assert sim.cohort.n_patients == 500 and sim.cohort.ecg is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("n: 500\npatients: 3\n")
    result = runner.invoke(app, ["run", "--config", str(bad), "--out", str(tmp_path / "o2")])
    assert result.exit_code == 2
    assert "unknown setting(s) ['patients']" in result.output


def test_simulate_writes_loadable_cohort(tmp_path):
    result = runner.invoke(app, ["simulate", "--n", "300", "--drugs", "4", "--out", str(tmp_path / "sim")])
    assert result.exit_code == 0, result.output
    sim = SimulatedCohort.load(tmp_path / "sim")
    assert sim.cohort.n_patients == 300 and sim.cohort.action_names[0] == "standard_care"


def test_prep_example_writes_cohort_and_report(tmp_path):
    from typer.testing import CliRunner

    from causalrx.cli import app
    from causalrx.data.schema import Cohort

    result = CliRunner().invoke(app, ["prep", "--example", str(tmp_path / "raw"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "qc_report.md").is_file()
    assert Cohort.load(tmp_path / "out").n_patients == 500
    bad = CliRunner().invoke(app, ["prep", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 2 and "no such preparation spec" in bad.output


FAST = "n = 300\nn_drugs = 3\necg = false\nencoder = \"none\"\npolicies = false\n"


def _one_error_line(result):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
    return lines[0]


def test_user_errors_print_one_error_line_and_exit_2(tmp_path):
    assert "n must be an integer >= 10, got -5" in _one_error_line(runner.invoke(app, ["simulate", "--n", "-5", "--out", str(tmp_path / "s")]))
    (tmp_path / "file").write_text("x")
    assert "exists and is not a folder" in _one_error_line(runner.invoke(app, ["simulate", "--n", "50", "--out", str(tmp_path / "file")]))
    for text, message in [("ecg = \"false\"\n", "ecg must be true or false (unquoted), got 'false'"),
                          ("policies: \"no\"\n", "policies must be true or false (unquoted), got 'no'"),
                          ("n: 10.5\n", "n must be a whole number"), ("n: [\n", "not valid YAML")]:  # fmt: skip
        cfg = tmp_path / ("c.toml" if "=" in text else "c.yaml")
        cfg.write_text(text)
        assert message in _one_error_line(runner.invoke(app, ["run", "--config", str(cfg), "--out", str(tmp_path / "o")]))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep")
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST)
    line = _one_error_line(runner.invoke(app, ["run", "--config", str(cfg), "--out", str(mine)]))
    assert "not empty" in line and (mine / "thesis.tex").read_text() == "keep"


def test_an_interrupted_rerun_leaves_the_previous_report_whole(tmp_path, monkeypatch):
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST)
    out = tmp_path / "out"
    assert runner.invoke(app, ["run", "--config", str(cfg), "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"report.md", "summary.json", "config.yaml"} <= set(before)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("causalrx.report.cohort_summary.plot_effects", interrupted)
    result = runner.invoke(app, ["run", "--config", str(cfg), "--out", str(out), "--seed", "5"])
    assert result.exit_code == 130 and "interrupted" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old config, CSVs and report, nothing mixed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.toml", "out"]  # no partial folder left
    monkeypatch.undo()
    assert runner.invoke(app, ["run", "--config", str(cfg), "--out", str(out), "--seed", "5"]).exit_code == 0
    assert "random_state: 5" in (out / "config.yaml").read_text()  # a finished rerun replaces the earlier run whole
