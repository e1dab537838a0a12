"""Rhythm features of raw ECG records: heart rate and RR variability from detected R peaks.

Heart rate is an effect modifier and a prognostic marker that lives only in the waveform;
a feature table without it leaves the ECG to the neural encoders. The detector is the
classic amplitude-threshold one: remove baseline wander (a 0.6 s moving average), take the
lead's dominant polarity (so that leads whose QRS is mainly negative, such as V1, work),
and keep local maxima above half the record's largest deflection that are at least 0.25 s
apart (rates up to 240 beats/min). The heart rate is 60 over the median RR interval, which
a missed or an extra beat barely moves.

References
----------
Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng 1985;32(3):230-236.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from causalrx.data.schema import PATIENT_ID, EcgWaveforms
from causalrx.exceptions import ValidationError

RHYTHM_COLUMNS = ("heart_rate_bpm", "rr_sd_ms")
MIN_BEATS = 3  # fewer detected R peaks: the record's rhythm is undetermined (NaN)


def ecg_rhythm_features(ecg: EcgWaveforms, lead: str | None = None) -> pd.DataFrame:
    """Heart rate (beats/min, 60 / median RR) and RR standard deviation (ms) per record.

    Parameters
    ----------
    ecg : EcgWaveforms
        The cohort's records.
    lead : str, optional
        The lead to read; default lead II if recorded, otherwise the first lead.

    Returns
    -------
    DataFrame indexed by patient id with columns ``heart_rate_bpm`` and ``rr_sd_ms``. A
    record with fewer than three detected beats, or with missing samples, gets NaN (it is
    never given a made-up rate); ``attrs["undetermined"]`` counts such records.
    """
    if not isinstance(ecg, EcgWaveforms):
        raise ValidationError(f"ecg: expected EcgWaveforms, got {type(ecg).__name__}")
    if lead is None:
        lead = "II" if "II" in ecg.leads else ecg.leads[0]
    if lead not in ecg.leads:
        raise ValidationError(f"lead: {lead!r} is not recorded; the records have leads {list(ecg.leads)}")
    fs = float(ecg.fs)
    x = ecg.signals[:, ecg.leads.index(lead), :].astype(np.float64)
    window = max(1, int(round(0.6 * fs)))
    z = x - uniform_filter1d(x, size=window, axis=1, mode="nearest")
    flip = np.abs(z.min(axis=1)) > np.abs(z.max(axis=1))  # QRS mainly negative on this lead
    z[flip] *= -1
    out = np.full((len(z), len(RHYTHM_COLUMNS)), np.nan)
    distance = max(1, int(round(0.25 * fs)))
    for i, s in enumerate(z):
        if not np.isfinite(s).all() or s.max() <= 0:
            continue
        peaks, _ = find_peaks(s, height=0.5 * s.max(), distance=distance)
        if len(peaks) < MIN_BEATS:
            continue
        rr = np.diff(peaks) / fs
        out[i] = 60.0 / np.median(rr), 1000.0 * rr.std(ddof=1)
    frame = pd.DataFrame(out, index=pd.Index(np.asarray(ecg.patient_id).astype(str), name=PATIENT_ID), columns=list(RHYTHM_COLUMNS))
    frame.attrs["undetermined"] = int(np.isnan(out[:, 0]).sum())
    return frame
