"""Regenerate ``lifelines_cindex.npz``: inputs and lifelines' Harrell C-index for them.

Run with lifelines importable (it is not a causalrx dependency; it caps pandas < 3):
    pip install --no-deps --target /tmp/ll lifelines autograd autograd-gamma
    PYTHONPATH=/tmp/ll python tests/risk/data/make_lifelines_reference.py
"""

from pathlib import Path

import lifelines
import numpy as np
from lifelines.utils import concordance_index

rng = np.random.default_rng(2024)
cases = {}
for i, (n, tie_time, tie_risk) in enumerate([(200, False, False), (500, True, False), (300, True, True), (1000, False, True)]):
    time = rng.exponential(1.0, n)
    if tie_time:
        time = np.round(time, 1)  # many tied times, events and censorings among them
    risk = rng.normal(size=n) - 0.8 * np.log(time + 0.1)
    if tie_risk:
        risk = np.round(risk)
    event = (rng.uniform(size=n) < 0.7).astype(int)
    cases[f"time_{i}"], cases[f"event_{i}"], cases[f"risk_{i}"] = time, event, risk
    cases[f"cindex_{i}"] = np.array(concordance_index(time, -risk, event))
np.savez(Path(__file__).with_name("lifelines_cindex.npz"), lifelines_version=np.array(lifelines.__version__), **cases)
