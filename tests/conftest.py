import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def small_sim():
    from causalrx.data.simulate import simulate_cohort

    return simulate_cohort(n=400, n_drugs=6, random_state=3)
