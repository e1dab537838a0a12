"""IHDP loader: the canonical split, the column layout, and clear errors for missing data."""

import numpy as np
import pytest

from causalrx.data.ihdp import COLUMNS, ihdp_dir, load_ihdp
from causalrx.exceptions import ValidationError


def _fake_ihdp(root, n=20, n_test=4):
    rng = np.random.default_rng(0)
    (root / "csv").mkdir(parents=True)
    (root / "npz").mkdir()
    data = rng.normal(size=(n, len(COLUMNS)))
    data[:, 0] = rng.integers(0, 2, n)
    np.savetxt(root / "csv" / "ihdp_npci_3.csv", data, delimiter=",")
    index = np.tile(np.arange(n_test)[:, None] * 2, (1, 50))  # rows 0, 2, 4, 6 are the test units
    np.savetxt(root / "npz" / "ihdp_npci_1-50.test_row_index_in_csv.csv", index, delimiter=",", fmt="%d", header="test rows")
    return data


def test_reads_columns_and_split_from_a_folder(tmp_path):
    data = _fake_ihdp(tmp_path)
    rep = load_ihdp(3, tmp_path)
    np.testing.assert_array_equal(rep.test, [0, 2, 4, 6])
    assert len(rep.train) == 16 and not set(rep.train) & set(rep.test)
    np.testing.assert_array_equal(rep.t, data[:, 0].astype(int))
    np.testing.assert_allclose(rep.x, data[:, 5:])
    np.testing.assert_allclose(rep.ite, data[:, 4] - data[:, 3])


def test_missing_data_and_bad_arguments_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("CAUSALRX_IHDP_DIR", raising=False)
    with pytest.raises(ValidationError, match=r"IHDP data not found \(tried: .*nowhere.*\); pass path= or set CAUSALRX_IHDP_DIR"):
        ihdp_dir(tmp_path / "nowhere")
    with pytest.raises(ValidationError, match=r"replication: expected an integer in 1..50, got 51"):
        load_ihdp(51, tmp_path)
    _fake_ihdp(tmp_path)
    with pytest.raises(ValidationError, match=r"IHDP replication 4: .*ihdp_npci_4.csv does not exist"):
        load_ihdp(4, tmp_path)
    monkeypatch.setenv("CAUSALRX_IHDP_DIR", str(tmp_path))
    assert ihdp_dir() == tmp_path


def test_shared_replications_have_the_standard_shape():
    try:
        folder = ihdp_dir()
    except ValidationError:
        pytest.skip("the shared IHDP folder is not beside this checkout")
    for r in (1, 50):
        rep = load_ihdp(r, folder)
        assert rep.x.shape == (747, 25) and len(rep.train) == 672 and len(rep.test) == 75
        assert set(np.unique(rep.t)) == {0, 1}
        # the factual outcome is the noiseless mean plus unit-variance noise
        mu = np.where(rep.t == 1, rep.mu1, rep.mu0)
        assert 0.8 < np.std(rep.y - mu) < 1.2
