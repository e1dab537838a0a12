"""Save and load a :class:`~causalrx.data.schema.Cohort` as Parquet files plus a JSON manifest.

Layout of a cohort folder::

    manifest.json        format version, drugs, reference arm, ECG geometry, metadata,
                         and for each table its file, row count and SHA-256
    clinical.parquet     treatments.parquet   outcomes.parquet
    genomics.parquet     proteomics.parquet   variants.parquet   timeseries.parquet
    ecg.parquet          patient_id + one fixed-size list<float32> of n_leads*n_samples

The round trip is exact: values, dtypes, column order and row order are preserved.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from causalrx.exceptions import ValidationError

FORMAT = "causalrx.cohort/1"
TABLES = ("clinical", "treatments", "outcomes", "genomics", "proteomics", "variants", "timeseries")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_cohort(cohort, path: str | Path) -> Path:
    """Write ``cohort`` into folder ``path`` (created if needed) and return the folder."""
    from causalrx import __version__

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in TABLES:
        table = getattr(cohort, name)
        if table is None:
            continue
        file = folder / f"{name}.parquet"
        table.to_parquet(file, index=False)
        files[name] = {"file": file.name, "rows": len(table), "sha256": _sha256(file)}
    ecg_info = None
    if cohort.ecg is not None:
        ecg = cohort.ecg
        n, n_leads, n_samples = ecg.signals.shape
        flat = pa.array(np.ascontiguousarray(ecg.signals, dtype=np.float32).reshape(-1))
        signal = pa.FixedSizeListArray.from_arrays(flat, n_leads * n_samples)
        file = folder / "ecg.parquet"
        pq.write_table(pa.table({"patient_id": pa.array(ecg.patient_id), "signal": signal}), file)
        files["ecg"] = {"file": file.name, "rows": n, "sha256": _sha256(file)}
        ecg_info = {"fs": float(ecg.fs), "leads": list(ecg.leads), "n_samples": n_samples}
    manifest = {
        "format": FORMAT,
        "causalrx_version": __version__,
        "action_names": list(cohort.action_names),
        "reference": cohort.reference,
        "tables": files,
        "ecg": ecg_info,
        "metadata": cohort.metadata,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=_json_default))
    return folder


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"cohort metadata value of type {type(value).__name__} is not JSON-serialisable")


def load_cohort(path: str | Path):
    """Read a cohort folder written by :func:`save_cohort`, verifying every checksum."""
    from causalrx.data.schema import Cohort, EcgWaveforms

    folder = Path(path)
    manifest_file = folder / "manifest.json"
    if not manifest_file.is_file():
        raise ValidationError(f"{folder}: no manifest.json; not a cohort folder written by Cohort.save")
    manifest = json.loads(manifest_file.read_text())
    if manifest.get("format") != FORMAT:
        raise ValidationError(f"{manifest_file}: format {manifest.get('format')!r} is not {FORMAT!r}")
    entries = manifest["tables"]
    for name, entry in entries.items():
        file = folder / entry["file"]
        if not file.is_file():
            raise ValidationError(f"{manifest_file}: table {name!r} lists {entry['file']} which does not exist")
        if _sha256(file) != entry["sha256"]:
            raise ValidationError(f"{file}: checksum differs from manifest.json (file changed after saving)")
    tables = {name: pd.read_parquet(folder / entries[name]["file"]) for name in TABLES if name in entries}
    ecg = None
    if "ecg" in entries:
        info = manifest["ecg"]
        arrow = pq.read_table(folder / entries["ecg"]["file"])
        flat = arrow.column("signal").combine_chunks().flatten().to_numpy()
        signals = flat.reshape(arrow.num_rows, len(info["leads"]), info["n_samples"])
        ecg = EcgWaveforms(
            patient_id=arrow.column("patient_id").to_numpy(zero_copy_only=False),
            signals=signals,
            fs=info["fs"],
            leads=tuple(info["leads"]),
        )
    return Cohort(
        action_names=tuple(manifest["action_names"]),
        reference=manifest["reference"],
        ecg=ecg,
        metadata=manifest["metadata"],
        **tables,
    )


def save_object(obj, path: str | Path) -> Path:
    """Pickle a fitted object (an encoder, a policy) with :func:`torch.save`, so its tensors travel with it."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def load_object(path: str | Path, cls: type, kind: str):
    """Load what :func:`save_object` wrote, tensors mapped to the CPU; it must be a ``cls``.

    Loading unpickles Python objects: load only files you trust.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{kind} file {path} does not exist")
    obj = torch.load(path, weights_only=False, map_location="cpu")
    if not isinstance(obj, cls):
        raise ValidationError(f"{path}: holds a {type(obj).__name__}, not a {cls.__name__}")
    return obj
