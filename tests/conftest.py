import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session", autouse=True)
def _one_thread_per_worker():
    """pytest-xdist runs one worker per core: keep OpenMP/BLAS pools from oversubscribing them."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def small_sim():
    from causalrx.data.simulate import simulate_cohort

    return simulate_cohort(n=400, n_drugs=6, random_state=3)
