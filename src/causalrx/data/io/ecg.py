"""WFDB ECG records into :class:`~causalrx.data.schema.EcgWaveforms`, through the ``wfdb`` package."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from causalrx.data.schema import EcgWaveforms
from causalrx.exceptions import ValidationError

TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}


def read_wfdb(
    records: Sequence[str | Path],
    *,
    leads: Sequence[str] = ("II",),
    duration_s: float = 10.0,
    fs: float | None = None,
    ids: Mapping[str, str] | None = None,
) -> EcgWaveforms:
    """Read WFDB records (``.hea`` + signal files) into one waveform array.

    Parameters
    ----------
    records : sequence of path-like
        Record paths without extension (as ``wfdb.rdrecord`` takes them).
    leads : sequence of str
        Lead names to keep, in this order; every record must have them.
    duration_s : float
        Seconds read from the start of each record; a shorter record is an error.
    fs : float, optional
        Target sampling frequency. By default all records must share one; with ``fs`` given,
        records are resampled to it (polyphase filtering, ``scipy.signal.resample_poly``).
    ids : mapping record name -> patient id, optional
        Patient of each record; the record name (file stem) by default.

    Raises
    ------
    ValidationError
        Missing record, missing lead, a unit other than mV/uV/V, mismatched sampling
        frequencies, a record shorter than ``duration_s``, or NaN samples — each naming the record.
    """
    import wfdb
    from scipy.signal import resample_poly

    if not len(records):
        raise ValidationError("records: expected at least one WFDB record path")
    signals, patients, rates = [], [], []
    for rec in records:
        path = Path(rec)
        if not path.with_suffix(".hea").is_file():
            raise ValidationError(f"{path}: no WFDB header {path.with_suffix('.hea').name}")
        try:
            record = wfdb.rdrecord(str(path))
        except Exception as err:  # wfdb raises several types on a bad header or signal file
            raise ValidationError(f"{path}: not a readable WFDB record ({err})") from err
        missing = [lead for lead in leads if lead not in record.sig_name]
        if missing:
            raise ValidationError(f"{path}: lead(s) {missing} not in the record (it has {record.sig_name})")
        cols = [record.sig_name.index(lead) for lead in leads]
        units = [str(record.units[c]).strip().lower() for c in cols]
        unknown = [u for u in units if u not in TO_MV]
        if unknown:
            raise ValidationError(f"{path}: unit(s) {unknown} of lead(s) {list(leads)} not understood; expected mV, uV or V")
        x = record.p_signal[:, cols] * np.array([TO_MV[u] for u in units])
        rate = float(record.fs)
        if fs is not None and rate != fs:
            ratio = Fraction(fs / rate).limit_denominator(1000)
            x = resample_poly(x, ratio.numerator, ratio.denominator, axis=0)
            rate = float(fs)
        need = int(round(duration_s * rate))
        if len(x) < need:
            raise ValidationError(f"{path}: {len(x) / rate:.2f} s long, shorter than duration_s={duration_s}")
        x = x[:need]
        if not np.isfinite(x).all():
            raise ValidationError(f"{path}: {int((~np.isfinite(x)).sum())} NaN sample(s) in lead(s) {list(leads)}")
        signals.append(x.T.astype(np.float32))
        patients.append((ids or {}).get(path.name, path.name))
        rates.append(rate)
    if len(set(rates)) > 1:
        by_rate = {r: [Path(p).name for p, q in zip(records, rates) if q == r][:3] for r in sorted(set(rates))}
        raise ValidationError(f"records: sampling frequencies differ {by_rate}; pass fs= to resample them to one")
    return EcgWaveforms(patient_id=np.asarray(patients, dtype=object), signals=np.stack(signals), fs=rates[0], leads=tuple(leads))


def write_wfdb(ecg: EcgWaveforms, folder: str | Path, *, units: str = "mV") -> list[Path]:
    """Write each patient's waveform as a WFDB record named by its patient id (16-bit format)."""
    import wfdb

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scale = 1.0 / TO_MV[units.lower()]
    paths = []
    for pid, sig in zip(ecg.patient_id, ecg.signals):
        wfdb.wrsamp(
            str(pid), fs=ecg.fs, units=[units] * len(ecg.leads), sig_name=list(ecg.leads),
            p_signal=(sig.T * scale).astype(np.float64), fmt=["16"] * len(ecg.leads), write_dir=str(folder),
        )  # fmt: skip
        paths.append(folder / str(pid))
    return paths
