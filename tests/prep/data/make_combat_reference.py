"""Regenerate combat_inmoose.npz: inmoose's pycombat_norm on a small matrix with 3 batches.

Run in an environment with inmoose 0.8.1 installed (it needs scipy < 1.16 and pandas < 3,
so it is not a causalrx dependency):  python make_combat_reference.py
"""

from pathlib import Path

import numpy as np
import pandas as pd
from inmoose.pycombat import pycombat_norm

rng = np.random.default_rng(1)
n, F = 60, 25
batch = np.repeat(["a", "b", "c"], [20, 25, 15])
sex = rng.integers(0, 2, n).astype(float)
Y = rng.normal(5, 1, (n, F)) + np.where(batch == "b", 1.5, 0)[:, None]
Y += np.where(batch == "c", -0.7, 0)[:, None] * rng.uniform(0.5, 1.5, F) + sex[:, None] * 0.8
Y[batch == "c"] *= 1.3
frame = pd.DataFrame(Y).T  # features x samples, as pycombat_norm takes them
np.savez_compressed(
    Path(__file__).with_name("combat_inmoose.npz"),
    Y=Y, batch=batch, sex=sex,
    plain=pycombat_norm(frame, list(batch)).T.to_numpy(),
    covariate=pycombat_norm(frame, list(batch), covar_mod=pd.DataFrame({"sex": sex})).T.to_numpy(),
    mean_only=pycombat_norm(frame, list(batch), mean_only=True).T.to_numpy(),
)
