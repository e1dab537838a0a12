"""Save and load a :class:`~causalrx.data.schema.Cohort` as Parquet files plus a JSON manifest.

Layout of a cohort folder::

    manifest.json        format version, drugs, reference arm, patient count, ECG geometry,
                         metadata, for each table its file, row count, SHA-256 and column
                         dtypes, and the manifest's own SHA-256
    clinical.parquet     treatments.parquet   outcomes.parquet
    genomics.parquet     proteomics.parquet   variants.parquet   timeseries.parquet
    ecg.parquet          patient_id + one fixed-size list of n_leads*n_samples values

The round trip is exact: values, dtypes, column order and row order are preserved; a save
that could not keep them (a column of mixed Python objects, metadata JSON cannot hold
exactly) is refused by name before anything is written.

Saving never damages what was there: everything is written into a temporary folder beside
the target, flushed to disk, read back and compared, and only then swapped into place in
one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, with the
previous copy kept as ``.<name>.previous-*`` until the new one is in place, and
:func:`load_cohort` reading that copy if a save was interrupted between them). A failure or
a kill at any moment leaves the previous copy readable. A non-empty target that is not
exactly a store of the same kind is refused unless ``overwrite=True``.

Loading checks everything the manifest says before trusting it: its own checksum and
format version, every table's file name (no paths), row count, checksum and dtypes, the
reference arm among the drugs, the patient count and the ECG geometry, and that no table
file lies in the folder without being listed.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import math
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from causalrx.exceptions import ValidationError

FORMAT = "causalrx.cohort/2"
LEGACY_FORMATS = ("causalrx.cohort/1",)
TABLES = ("clinical", "treatments", "outcomes", "genomics", "proteomics", "variants", "timeseries")
REQUIRED_TABLES = ("clinical", "treatments", "outcomes")
MANIFEST = "manifest.json"
MANIFEST_KEYS = {"format", "causalrx_version", "action_names", "reference", "n_patients", "tables", "ecg", "metadata",
                 "manifest_sha256"}  # fmt: skip
ENTRY_KEYS = {"file", "rows", "sha256", "columns"}
ECG_KEYS = {"fs", "leads", "n_samples", "dtype"}
_PARTIAL, _PREVIOUS = "partial", "previous"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest_digest(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ---------------------------------------------------------------- atomic folders
def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:  # some file systems cannot sync a directory
        if err.errno not in (errno.EINVAL, errno.EBADF, errno.EISDIR):
            raise
    finally:
        os.close(fd)


def _sync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            _fsync(Path(root) / name)
        _fsync(Path(root))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2``); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(a))


def _siblings(target: Path, kind: str) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.{kind}-*"), key=lambda p: p.stat().st_mtime, reverse=True)


def check_target(target: str | Path, *, overwrite: bool = False, owned: Callable[[Path], set[str] | None] | None = None,
                 what: str = "folder") -> Path:  # fmt: skip
    """Refuse a ``target`` that :func:`atomic_folder` may not replace (call it before long work)."""
    target = Path(target)
    if not isinstance(overwrite, (bool, np.bool_)):
        raise ValidationError(f"overwrite: expected True or False, got {overwrite!r}")
    if target.exists() and not target.is_dir():
        raise ValidationError(f"{target}: exists and is not a folder; choose a folder path for the {what}")
    if target.is_dir() and not overwrite:
        present = {p.name for p in target.iterdir()}
        mine = owned(target) if owned is not None and present else set()
        if present and (mine is None or present - mine):
            extra = sorted(present - (mine or set()))
            raise ValidationError(f"{target}: the folder is not empty and is not a {what} written by causalrx "
                                  f"(it holds {extra[:5]}{' ...' if len(extra) > 5 else ''}); choose an empty or new "
                                  "folder, or pass overwrite=True to replace everything in it")  # fmt: skip
    return target


@contextlib.contextmanager
def atomic_folder(target: str | Path, *, overwrite: bool = False, owned: Callable[[Path], set[str] | None] | None = None,
                  what: str = "folder") -> Iterator[Path]:  # fmt: skip
    """Yield a fresh temporary folder beside ``target``; when the block succeeds, move it into
    place atomically (the previous content survives any failure or kill before that).

    ``owned(folder)`` names the entries of an existing store of the same kind (None when the
    folder is not one); an existing non-empty ``target`` holding anything else is refused
    unless ``overwrite=True``.
    """
    target = check_target(target, overwrite=overwrite, owned=owned, what=what)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{_PARTIAL}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        yield tmp
        _sync_tree(tmp)
        if target.is_dir():
            if _exchange(tmp, target):
                _fsync(target.parent)
                shutil.rmtree(tmp, ignore_errors=True)  # now the previous content
                return
            previous = target.parent / f".{target.name}.{_PREVIOUS}-{uuid.uuid4().hex[:12]}"
            os.replace(target, previous)
            os.replace(tmp, target)
            _fsync(target.parent)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(tmp, target)
            _fsync(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def recovered(folder: Path, marker: str) -> Path:
    """``folder`` if it holds ``marker``; else the copy a save interrupted between its two renames left."""
    if (folder / marker).is_file():
        return folder
    for previous in _siblings(folder, _PREVIOUS):
        if (previous / marker).is_file():
            warnings.warn(f"{folder}: a save was interrupted while replacing this folder; reading the previous copy "
                          f"kept at {previous} (move it back to {folder} to keep it)", UserWarning, stacklevel=3)  # fmt: skip
            return previous
    return folder


# ---------------------------------------------------------------- save
def _check_json(value, where: str) -> None:
    """Refuse metadata that would not come back from JSON exactly as given."""
    if value is None or isinstance(value, (str, bool)):
        return
    if isinstance(value, int) and type(value) is int:
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise ValidationError(f"{where}: {value!r} cannot be stored in JSON; use None for a missing number")
        return
    if type(value) is list:
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{where}: key {key!r} is a {type(key).__name__}; JSON keys are text, so it would "
                                      "come back as a string: use text keys")  # fmt: skip
            _check_json(item, f"{where}[{key!r}]")
        return
    hint = {"tuple": "a list", "set": "a sorted list", "ndarray": "a list (array.tolist())"}.get(type(value).__name__,
                                                                                                  "a plain str/int/float/bool/None")  # fmt: skip
    raise ValidationError(f"{where}: a {type(value).__name__} would not come back from the manifest as it is; store {hint}")


def _arrow_table(name: str, table: pd.DataFrame) -> pa.Table:
    """The table as Arrow, or a named error for the first column that cannot be stored."""
    try:
        return pa.Table.from_pandas(table, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as err:
        for col in table.columns:
            try:
                pa.array(table[col], from_pandas=True)
            except (pa.ArrowException, ValueError, TypeError) as col_err:
                kinds = sorted({type(v).__name__ for v in table[col].dropna()})
                raise ValidationError(f"{name}.{col}: cannot be saved ({col_err}); it holds values of types {kinds} - "
                                      "make the column one type (numbers, text, booleans or dates)") from err  # fmt: skip
        raise ValidationError(f"{name}: cannot be saved ({err})") from err


def _restore_dtypes(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Text columns that were ``object`` come back from Parquet as pandas' ``str``: make them ``object`` again."""
    for col, dtype in columns.items():
        if col in frame.columns and dtype == "object" and pd.api.types.is_string_dtype(frame[col].dtype) and frame[col].dtype != object:
            frame[col] = frame[col].astype(object)
    return frame


def _write_table(name: str, table: pd.DataFrame, folder: Path) -> dict:
    bad = [c for c in table.columns if not isinstance(c, str)]
    if bad:
        raise ValidationError(f"{name}: column name(s) {bad[:3]} are not text; Parquet stores text column names")
    file = folder / f"{name}.parquet"
    pq.write_table(_arrow_table(name, table), file)
    columns = {c: str(t) for c, t in table.dtypes.items()}
    back = _restore_dtypes(pd.read_parquet(file), columns)
    changed = [f"{c} ({columns[c]} -> {back[c].dtype})" for c in table.columns if str(back[c].dtype) != columns[c]]
    if changed:
        raise ValidationError(f"{name}: column(s) {changed} would not come back with their dtype; convert them first")
    try:
        pd.testing.assert_frame_equal(table.reset_index(drop=True), back, check_exact=True)
    except AssertionError as err:
        raise ValidationError(f"{name}: the table would not come back from Parquet unchanged ({str(err).splitlines()[0]})") from err
    return {"file": file.name, "rows": len(table), "sha256": sha256_file(file), "columns": columns}


def write_cohort(cohort, folder: Path) -> None:
    """Write ``cohort`` into the existing, empty ``folder`` (no atomicity: see :func:`save_cohort`)."""
    from causalrx import __version__

    _check_json(cohort.metadata, "metadata")
    files = {}
    for name in TABLES:
        table = getattr(cohort, name)
        if table is not None:
            files[name] = _write_table(name, table, folder)
    ecg_info = None
    if cohort.ecg is not None:
        ecg = cohort.ecg
        n, n_leads, n_samples = ecg.signals.shape
        flat = pa.array(np.ascontiguousarray(ecg.signals).reshape(-1))
        signal = pa.FixedSizeListArray.from_arrays(flat, n_leads * n_samples)
        file = folder / "ecg.parquet"
        pq.write_table(pa.table({"patient_id": pa.array(ecg.patient_id), "signal": signal}), file)
        files["ecg"] = {"file": file.name, "rows": n, "sha256": sha256_file(file), "columns": {"patient_id": str(np.asarray(ecg.patient_id).dtype)}}
        ecg_info = {"fs": float(ecg.fs), "leads": list(ecg.leads), "n_samples": n_samples, "dtype": str(ecg.signals.dtype)}
    manifest = {
        "format": FORMAT,
        "causalrx_version": __version__,
        "action_names": list(cohort.action_names),
        "reference": cohort.reference,
        "n_patients": cohort.n_patients,
        "tables": files,
        "ecg": ecg_info,
        "metadata": cohort.metadata,
    }
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))


def cohort_files(folder: Path) -> set[str] | None:
    """The entries of a cohort store (manifest and its tables); None when ``folder`` is not one."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("format") not in (FORMAT, *LEGACY_FORMATS):
            return None
        return {MANIFEST, *(str(e["file"]) for e in manifest["tables"].values())}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_cohort(cohort, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``cohort`` into folder ``path`` atomically and return the folder.

    An existing cohort store at ``path`` is replaced; any other non-empty folder is refused
    unless ``overwrite=True``. The previous content survives a failure or kill at any point.
    """
    folder = Path(path)
    with atomic_folder(folder, overwrite=overwrite, owned=cohort_files, what="cohort store") as tmp:
        write_cohort(cohort, tmp)
    return folder


# ---------------------------------------------------------------- load
def _fail(where: Path, message: str) -> ValidationError:
    return ValidationError(f"{where}: {message}")


def read_manifest(folder: Path) -> dict:
    """The manifest, with its own checksum, keys and types verified (named errors otherwise)."""
    file = folder / MANIFEST
    if not file.is_file():
        raise ValidationError(f"{folder}: no {MANIFEST}; not a cohort folder written by Cohort.save")
    try:
        manifest = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise _fail(file, f"not valid JSON ({err}); the manifest is damaged") from err
    if not isinstance(manifest, dict):
        raise _fail(file, "expected a JSON object")
    fmt = manifest.get("format")
    if fmt in LEGACY_FORMATS:
        warnings.warn(f"{file}: format {fmt!r} has no manifest checksum; its structure is checked, but save the cohort "
                      f"again to upgrade it to {FORMAT!r}", UserWarning, stacklevel=3)  # fmt: skip
        manifest.setdefault("n_patients", None)
        manifest.setdefault("manifest_sha256", None)
    elif fmt != FORMAT:
        raise _fail(file, f"format {fmt!r} is not {FORMAT!r}; it was not written by this version of Cohort.save")
    elif manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise _fail(file, "the manifest's own checksum does not match its content: it was edited or damaged after saving")
    keys = set(manifest)
    if keys != MANIFEST_KEYS:
        raise _fail(file, f"unexpected keys: missing {sorted(MANIFEST_KEYS - keys)}, unknown {sorted(keys - MANIFEST_KEYS)}")
    names = manifest["action_names"]
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(a, str) and a for a in names) or len(set(names)) != len(names):
        raise _fail(file, f"action_names: expected a list of at least 2 unique drug names, got {names!r}")
    if manifest["reference"] not in names:
        raise _fail(file, f"reference: {manifest['reference']!r} is not one of action_names {names}")
    tables = manifest["tables"]
    if not isinstance(tables, dict):
        raise _fail(file, "tables: expected a mapping table -> entry")
    unknown = sorted(set(tables) - set(TABLES) - {"ecg"})
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if unknown or missing:
        raise _fail(file, f"tables: unknown {unknown}, missing required {missing}")
    for name, entry in tables.items():
        if not isinstance(entry, dict) or not {"file", "rows", "sha256"} <= set(entry) or set(entry) - ENTRY_KEYS:
            raise _fail(file, f"tables.{name}: expected keys {sorted(ENTRY_KEYS)}, got {entry!r}")
        if entry["file"] != f"{name}.parquet":
            raise _fail(file, f"tables.{name}: file must be {name}.parquet inside the store, got {entry['file']!r}")
        if isinstance(entry["rows"], bool) or not isinstance(entry["rows"], int) or entry["rows"] < 0:
            raise _fail(file, f"tables.{name}: rows must be a non-negative whole number, got {entry['rows']!r}")
    if manifest["n_patients"] is not None and manifest["n_patients"] != tables["clinical"]["rows"]:
        raise _fail(file, f"n_patients {manifest['n_patients']!r} differs from the clinical table's {tables['clinical']['rows']} rows")
    ecg = manifest["ecg"]
    if ("ecg" in tables) != (ecg is not None):
        raise _fail(file, "ecg: the ECG geometry and the ecg table must be given together")
    if ecg is not None:
        if not isinstance(ecg, dict) or not {"fs", "leads", "n_samples"} <= set(ecg) or set(ecg) - ECG_KEYS:
            raise _fail(file, f"ecg: expected keys {sorted(ECG_KEYS)}, got {ecg!r}")
        if not isinstance(ecg["leads"], list) or not ecg["leads"] or not all(isinstance(x, str) for x in ecg["leads"]):
            raise _fail(file, f"ecg.leads: expected a non-empty list of lead names, got {ecg['leads']!r}")
        if isinstance(ecg["n_samples"], bool) or not isinstance(ecg["n_samples"], int) or ecg["n_samples"] < 1:
            raise _fail(file, f"ecg.n_samples: expected a positive whole number, got {ecg['n_samples']!r}")
    if not isinstance(manifest["metadata"], dict):
        raise _fail(file, "metadata: expected a JSON object")
    return manifest


def load_cohort(path: str | Path):
    """Read a cohort folder written by :func:`save_cohort`, verifying the manifest and every table."""
    from causalrx.data.schema import Cohort, EcgWaveforms

    folder = recovered(Path(path), MANIFEST)
    manifest = read_manifest(folder)
    entries = manifest["tables"]
    listed = {e["file"] for e in entries.values()}
    stray = sorted(p.name for p in folder.glob("*.parquet") if p.name not in listed)
    if stray:
        raise _fail(folder, f"table file(s) {stray} are in the folder but not in {MANIFEST}; the manifest was edited "
                            "or files of another cohort were copied in")  # fmt: skip
    for name, entry in entries.items():
        file = folder / entry["file"]
        if not file.is_file():
            raise _fail(folder / MANIFEST, f"table {name!r} lists {entry['file']} which does not exist")
        if sha256_file(file) != entry["sha256"]:
            raise _fail(file, f"checksum differs from {MANIFEST} (file changed after saving)")
        rows = pq.ParquetFile(file).metadata.num_rows
        if rows != entry["rows"]:
            raise _fail(file, f"holds {rows} rows, {MANIFEST} says {entry['rows']}")
    tables = {}
    for name in TABLES:
        if name in entries:
            columns = entries[name].get("columns")
            table = pd.read_parquet(folder / entries[name]["file"])
            if columns is not None:
                table = _restore_dtypes(table, columns)
                found = {c: str(t) for c, t in table.dtypes.items()}
                if found != columns:
                    raise _fail(folder / entries[name]["file"], f"columns and dtypes {found} differ from {MANIFEST}'s {columns}")
            tables[name] = table
    ecg = None
    if "ecg" in entries:
        info = manifest["ecg"]
        arrow = pq.read_table(folder / entries["ecg"]["file"])
        size = len(info["leads"]) * info["n_samples"]
        signal_type = arrow.schema.field("signal").type if "signal" in arrow.column_names else None
        if not isinstance(signal_type, pa.FixedSizeListType) or signal_type.list_size != size:
            raise _fail(folder / entries["ecg"]["file"], f"signal is not a fixed-size list of {size} values "
                                                         f"({len(info['leads'])} lead(s) x {info['n_samples']} samples)")  # fmt: skip
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
    """Pickle a fitted object (an encoder, a policy) with :func:`torch.save`, so its tensors travel with it.

    Written to a temporary file beside ``path`` and renamed into place: an interrupted save
    leaves the previous file intact.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{_PARTIAL}-{uuid.uuid4().hex[:12]}"
    try:
        torch.save(obj, tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
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
