"""IHDP semi-synthetic benchmark (NPCI setting A, replications 1-50 of IHDP-100).

Each replication has 747 units, 25 covariates, a binary treatment, the factual and
counterfactual outcomes and the noiseless potential-outcome means ``mu0``/``mu1``. The
standard split is 672 training and 75 test units; the test rows of replication r are
given by ``npz/ihdp_npci_1-50.test_row_index_in_csv.csv``.

The data folder is looked up, in order: the ``path`` argument, the ``CAUSALRX_IHDP_DIR``
environment variable, then ``../shared/data/ihdp`` next to the current directory or next
to the causalrx source tree.

References
----------
Hill JL. Bayesian nonparametric modeling for causal inference. JCGS 2011;20(1):217-240.
Shalit U, Johansson FD, Sontag D. Estimating individual treatment effect: generalization
bounds and algorithms. ICML 2017.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from causalrx.exceptions import ValidationError

N_REPLICATIONS = 50
COLUMNS = ["treatment", "y_factual", "y_cfactual", "mu0", "mu1"] + [f"x{i}" for i in range(1, 26)]


def ihdp_dir(path: str | Path | None = None) -> Path:
    """The IHDP folder (with ``csv/`` and ``npz/``); a clear error if it cannot be found."""
    candidates = [Path(path)] if path is not None else []
    if path is None:
        if os.environ.get("CAUSALRX_IHDP_DIR"):
            candidates.append(Path(os.environ["CAUSALRX_IHDP_DIR"]))
        candidates += [Path.cwd().parent / "shared" / "data" / "ihdp", Path(__file__).resolve().parents[4] / "shared" / "data" / "ihdp"]
    for folder in candidates:
        if (folder / "csv").is_dir() and (folder / "npz").is_dir():
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise ValidationError(
        f"IHDP data not found (tried: {tried}); pass path= or set CAUSALRX_IHDP_DIR to the folder holding csv/ and npz/"
    )


@dataclass(frozen=True, eq=False)
class IHDPReplication:
    """One IHDP replication with its canonical train/test split (row indices into the arrays)."""

    replication: int
    x: np.ndarray
    t: np.ndarray
    y: np.ndarray
    y_cf: np.ndarray
    mu0: np.ndarray
    mu1: np.ndarray
    train: np.ndarray
    test: np.ndarray

    @property
    def ite(self) -> np.ndarray:
        """True conditional effect mu1 - mu0 of every unit."""
        return self.mu1 - self.mu0


def load_ihdp(replication: int, path: str | Path | None = None) -> IHDPReplication:
    """Load replication ``replication`` (1..50) with the standard 672/75 split."""
    if not isinstance(replication, (int, np.integer)) or not 1 <= replication <= N_REPLICATIONS:
        raise ValidationError(f"replication: expected an integer in 1..{N_REPLICATIONS}, got {replication!r}")
    folder = ihdp_dir(path)
    file = folder / "csv" / f"ihdp_npci_{replication}.csv"
    if not file.is_file():
        raise ValidationError(f"IHDP replication {replication}: {file} does not exist")
    data = np.loadtxt(file, delimiter=",")
    if data.shape[1] != len(COLUMNS):
        raise ValidationError(f"{file}: expected {len(COLUMNS)} columns ({', '.join(COLUMNS[:5])}, x1..x25), got {data.shape[1]}")
    index_file = folder / "npz" / "ihdp_npci_1-50.test_row_index_in_csv.csv"
    test = np.loadtxt(index_file, delimiter=",", comments="#", dtype=int)[:, replication - 1]
    train = np.setdiff1d(np.arange(len(data)), test)
    return IHDPReplication(
        replication=replication, x=data[:, 5:], t=data[:, 0].astype(int), y=data[:, 1], y_cf=data[:, 2],
        mu0=data[:, 3], mu1=data[:, 4], train=train, test=np.sort(test),
    )  # fmt: skip
