"""Saving never loses the previous copy: atomic replacement, a kill at every write, refusal of
foreign folders, a manifest that checks itself and every structural field, exact dtypes."""

import json
import multiprocessing
import os
import shutil
import signal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from causalrx.data import Cohort
from causalrx.data.simulate import SimulatedCohort, simulate_cohort
from causalrx.exceptions import ValidationError


@pytest.fixture(scope="module")
def cohorts():
    old = simulate_cohort(n=300, n_drugs=4, random_state=1, ecg_seconds=2.0)
    new = simulate_cohort(n=200, n_drugs=4, random_state=2, ecg_seconds=2.0)
    return old, new


def _same(a: Cohort, b: Cohort) -> bool:
    return a.n_patients == b.n_patients and a.clinical.equals(b.clinical) and np.array_equal(a.ecg.signals, b.ecg.signals)


def _save_and_die_at(cohort, target, moment: int, exchange: bool) -> None:
    """Child process: save ``cohort`` to ``target`` and SIGKILL itself at the ``moment``-th write step."""
    from causalrx.data import storage

    if not exchange:  # as on a system without an atomic exchange of two folders: two renames
        storage._exchange = lambda a, b: False
    calls = [0]

    def step(fn):
        def wrapped(*args, **kwargs):
            calls[0] += 1
            if calls[0] == moment:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)

        return wrapped

    os.fsync, os.replace, pq.write_table, shutil.rmtree = (step(f) for f in (os.fsync, os.replace, pq.write_table, shutil.rmtree))
    cohort.save(target)
    os._exit(0)


@pytest.mark.parametrize("kind, exchange", [("cohort", True), ("simulated", True), ("cohort", False)])
@pytest.mark.filterwarnings("ignore:.*a save was interrupted:UserWarning")
def test_a_kill_at_any_write_leaves_a_readable_copy_old_or_new(cohorts, tmp_path, kind, exchange):
    old, new = cohorts
    old, new = (old.cohort, new.cohort) if kind == "cohort" else (old, new)
    load = Cohort.load if kind == "cohort" else SimulatedCohort.load
    unwrap = (lambda c: c) if kind == "cohort" else (lambda s: s.cohort)
    target = tmp_path / "store"
    context = multiprocessing.get_context("fork")
    outcomes = []
    for moment in range(1, 200):
        for leftover in tmp_path.iterdir():
            shutil.rmtree(leftover)
        old.save(target)
        child = context.Process(target=_save_and_die_at, args=(new, target, moment, exchange))
        child.start()
        child.join(60)
        back = unwrap(load(target))  # checksums verified; never a half-written store
        if child.exitcode == 0:
            assert _same(back, unwrap(new))
            break
        assert child.exitcode == -signal.SIGKILL
        outcomes.append("new" if _same(back, unwrap(new)) else "old")
        assert outcomes[-1] == "new" or _same(back, unwrap(old))
    else:
        pytest.fail("the save never completed")
    assert len(outcomes) >= 10 and "old" in outcomes  # killed at every write step; the old copy survived them


def test_a_failing_save_keeps_the_previous_copy(cohorts, tmp_path):
    old, new = cohorts
    target = old.cohort.save(tmp_path / "c")
    bad = Cohort(clinical=new.cohort.clinical.assign(note=[1] + ["a"] * (new.cohort.n_patients - 1)), action_names=new.cohort.action_names,
                 treatments=new.cohort.treatments, outcomes=new.cohort.outcomes)  # fmt: skip
    with pytest.raises(ValidationError, match=r"clinical.note: cannot be saved .* types \['int', 'str'\]"):
        bad.save(target)
    nonjson = Cohort(clinical=new.cohort.clinical, action_names=new.cohort.action_names, treatments=new.cohort.treatments,
                     outcomes=new.cohort.outcomes, metadata={"when": pd.Timestamp("2026-01-01")})  # fmt: skip
    with pytest.raises(ValidationError, match=r"metadata\['when'\]: a Timestamp would not come back"):
        nonjson.save(target)
    assert _same(Cohort.load(target), old.cohort)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no temporary folder left behind


def test_foreign_or_mixed_folders_are_refused_unless_overwrite(cohorts, tmp_path):
    old, new = cohorts
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    (mine / "clinical.parquet").write_text("my own file")
    with pytest.raises(ValidationError, match=r"not empty and is not a cohort store .*'clinical.parquet', 'notes.txt'"):
        new.cohort.save(mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    new.cohort.save(mine, overwrite=True)
    assert sorted(p.name for p in mine.iterdir()) == sorted(["manifest.json", *(f"{t}.parquet" for t in
                                                            ("clinical", "treatments", "outcomes", "genomics", "proteomics", "variants", "timeseries", "ecg"))])  # fmt: skip
    store = old.cohort.save(tmp_path / "store")
    (store / "extra.csv").write_text("x")
    with pytest.raises(ValidationError, match=r"holds \['extra.csv'\]"):
        new.cohort.save(store)
    (store / "extra.csv").unlink()
    new.cohort.save(store)  # a store of the same kind is replaced whole: no stale file of the old cohort
    assert _same(Cohort.load(store), new.cohort)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValidationError, match="exists and is not a folder"):
        new.cohort.save(tmp_path / "file")


def _edit(folder, change):
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _reseal(change):
    def edit(manifest):
        from causalrx.data.storage import _manifest_digest

        change(manifest)
        manifest["manifest_sha256"] = _manifest_digest(manifest)

    return edit


EDITS = [
    (lambda m: m["tables"].pop("genomics"), "own checksum does not match"),
    (lambda m: m.update(reference=m["action_names"][1]), "own checksum does not match"),
    (lambda m: m["action_names"].reverse(), "own checksum does not match"),
    (lambda m: m.update(n_patients=7), "own checksum does not match"),
    (_reseal(lambda m: m["tables"].pop("genomics")), r"genomics.parquet'\] are in the folder but not in manifest.json"),
    (_reseal(lambda m: m.update(reference="nope")), r"reference: 'nope' is not one of action_names"),
    (_reseal(lambda m: m["tables"]["clinical"].update(file="../clinical.parquet")), r"file must be clinical.parquet inside the store"),
    (_reseal(lambda m: m["tables"]["clinical"].update(file="outcomes.parquet")), r"file must be clinical.parquet"),
    (_reseal(lambda m: m.update(n_patients=7)), r"n_patients 7 differs from the clinical table's 300 rows"),
    (_reseal(lambda m: m["tables"]["outcomes"].update(rows=5)), r"outcomes.parquet: holds 300 rows, manifest.json says 5"),
    (_reseal(lambda m: m["ecg"].update(n_samples=7)), r"signal is not a fixed-size list of 7 values"),
    (_reseal(lambda m: m["tables"]["clinical"]["columns"].update(age="object")), r"differ from manifest.json"),
    (_reseal(lambda m: m.update(extra=1)), r"unknown \['extra'\]"),
    (_reseal(lambda m: m["tables"].pop("clinical")), r"missing required \['clinical'\]"),
    (lambda m: m.update(format="causalrx.cohort/9"), r"format 'causalrx.cohort/9' is not"),
]


@pytest.mark.parametrize("change, message", EDITS)
def test_every_structural_field_of_the_manifest_is_checked(cohorts, tmp_path, change, message):
    folder = cohorts[0].cohort.save(tmp_path / "c")
    _edit(folder, change)
    with pytest.raises(ValidationError, match=message):
        Cohort.load(folder)


def test_a_damaged_manifest_is_a_named_error(cohorts, tmp_path):
    folder = cohorts[0].cohort.save(tmp_path / "c")
    (folder / "manifest.json").write_text('{"format": ')
    with pytest.raises(ValidationError, match="manifest.json: not valid JSON"):
        Cohort.load(folder)


def test_round_trip_keeps_dtypes_and_metadata_exactly(tmp_path):
    ids = ["a", "b", "c"]
    clinical = pd.DataFrame({
        "patient_id": pd.Series(ids, dtype=object), "note": pd.Series(["x", None, "z"], dtype=object),
        "empty": pd.Series([None, None, None], dtype=object), "count": pd.array([1, None, 3], dtype="Int64"),
        "flag": [True, False, True], "when": pd.to_datetime(["2020-01-01", "2021-06-01", "2022-12-31"]),
        "grade": pd.Categorical(["lo", "hi", "lo"]), "egfr": [60.0, np.nan, 30.5],
    })  # fmt: skip
    cohort = Cohort(clinical=clinical, action_names=("a0", "a1"),
                    treatments=pd.DataFrame({"patient_id": ids, "visit": 0, "drug": ["a0", "a1", "a0"]}),
                    outcomes=pd.DataFrame({"patient_id": ids, "visit": 0, "y": [1.0, 2.0, 3.0]}),
                    metadata={"k": [1, 2.5, None, "s"], "nested": {"t": True}})  # fmt: skip
    back = Cohort.load(cohort.save(tmp_path / "c"))
    pd.testing.assert_frame_equal(back.clinical, clinical, check_exact=True)
    assert dict(back.clinical.dtypes.astype(str)) == dict(clinical.dtypes.astype(str))
    assert back.metadata == cohort.metadata
    for bad, message in [({"t": (1, 2)}, r"metadata\['t'\]: a tuple .* store a list"), ({1: "x"}, r"key 1 is a int"),
                         ({"x": float("nan")}, r"metadata\['x'\]: nan cannot be stored"), ({"a": np.float32(1)}, "float32")]:  # fmt: skip
        with pytest.raises(ValidationError, match=message):
            Cohort(clinical=clinical, action_names=("a0", "a1"), treatments=cohort.treatments, outcomes=cohort.outcomes,
                   metadata=bad).save(tmp_path / "bad")  # fmt: skip
    assert not (tmp_path / "bad").exists()
