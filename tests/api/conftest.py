import pytest


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory):
    """A small bundle of nine arms (abacavir among them), fitted on a simulated cohort."""
    from causalrx.api import export_bundle
    from causalrx.data.simulate import simulate_cohort

    sim = simulate_cohort(n=800, n_drugs=9, random_state=0, ecg=False)
    return export_bundle(sim.cohort, tmp_path_factory.mktemp("bundle") / "b", n_estimators=16, n_folds=2, random_state=0)
