"""VCF/BCF genotypes into a dosage matrix with variant annotations, through cyvcf2.

cyvcf2 (htslib underneath) was chosen over pysam and scikit-allel: it reads VCF, gzipped
VCF and BCF with htslib's own parser (so a malformed record is caught where htslib would
catch it), exposes each record's allele indices as a NumPy array (haploid calls included),
and streams records one at a time, so memory grows with the output matrix only.

Coding
------
For every ALT allele of a record there is one dosage column: the number of copies of that
allele in the call (multi-allelic records are split; their ids get ``_<ALT>``). A call with
a missing allele (``./.``, ``.``) is NaN. On the X chromosome outside the pseudo-autosomal
regions, when the samples' sex is given, men are hemizygous: a haploid call counts 0/1, a
diploid homozygous call (``1/1``) is read as one copy, and a diploid heterozygous call in a
man is impossible and becomes NaN (counted in the log, as PLINK does). Women are coded
0/1/2. Without ``sex`` the X calls are coded as called and the log says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from causalrx.exceptions import ValidationError

#: Pseudo-autosomal regions of chromosome X (1-based, inclusive), per genome build.
PAR = {
    "GRCh37": ((60_001, 2_699_520), (154_931_044, 155_260_560)),
    "GRCh38": ((10_001, 2_781_479), (155_701_383, 156_030_895)),
}


def normalise_chrom(chrom: str) -> str:
    """``chr1`` -> ``1``, ``chrX``/``23`` -> ``X``, ``chrY``/``24`` -> ``Y``, ``chrM``/``MT`` -> ``MT``."""
    c = str(chrom)
    c = c[3:] if c.lower().startswith("chr") else c
    return {"23": "X", "24": "Y", "M": "MT", "x": "X", "y": "Y"}.get(c, c)


def x_nonpar(chrom, pos, build: str = "GRCh38") -> np.ndarray:
    """Boolean per variant: on chromosome X outside both pseudo-autosomal regions."""
    if build not in PAR:
        raise ValidationError(f"build: expected one of {sorted(PAR)}, got {build!r}")
    chrom = np.asarray([normalise_chrom(c) for c in np.atleast_1d(chrom)])
    pos = np.asarray(np.atleast_1d(pos), dtype=np.int64)
    in_par = np.zeros(len(pos), dtype=bool)
    for lo, hi in PAR[build]:
        in_par |= (pos >= lo) & (pos <= hi)
    return (chrom == "X") & ~in_par


@dataclass(frozen=True, eq=False)
class GenotypeMatrix:
    """Dosages of ``samples`` (rows) at ``variants`` (columns) and what reading them did.

    Attributes
    ----------
    samples : array of str, shape (n,)
    dosage : float32 array, shape (n, m)
        Copies of the ALT allele of each column; NaN where the call is missing.
    variants : DataFrame
        One row per column: ``variant_id, chrom, pos, ref, alt, x_nonpar``.
    log : list of str
        What was recoded or set missing, with counts.
    """

    samples: np.ndarray
    dosage: np.ndarray
    variants: pd.DataFrame
    log: list[str] = field(default_factory=list)

    def to_frame(self, id_map: Mapping[str, str] | None = None) -> pd.DataFrame:
        """Patient-by-variant table (``patient_id`` first); ``id_map`` renames samples."""
        ids = [id_map.get(s, s) for s in self.samples] if id_map else list(self.samples)
        frame = pd.DataFrame(self.dosage, columns=self.variants["variant_id"].to_list())
        frame.insert(0, "patient_id", ids)
        return frame


def vcf_samples(path: str | Path) -> list[str]:
    """Sample names in a VCF/BCF header (reads the header only)."""
    import cyvcf2

    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: no such VCF/BCF file")
    try:
        vcf = cyvcf2.VCF(str(path), lazy=True)
    except Exception as err:  # cyvcf2 raises bare Exception on a bad header
        raise ValidationError(f"{path}: not a readable VCF/BCF file ({err})") from err
    names = list(vcf.samples)
    vcf.close()
    return names


def write_vcf(path: str | Path, samples, dosage: np.ndarray, variants: pd.DataFrame, *, male=None, build: str = "GRCh38") -> Path:
    """Write hard-call genotypes (0/1/2, NaN missing) as an uncompressed VCF 4.2; men's
    non-PAR X calls are written haploid."""
    path = Path(path)
    xs = x_nonpar(variants["chrom"].astype(str).to_numpy(), variants["pos"].to_numpy(), build)
    male = np.zeros(len(samples), bool) if male is None else np.asarray(male, bool)
    diploid = np.array(["0/0", "0/1", "1/1", "./."])
    haploid = np.array(["0", "1", "1", "."])
    chroms = list(dict.fromkeys(variants["chrom"].astype(str)))
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n")
        fh.writelines(f"##contig=<ID={c}>\n" for c in chroms)
        fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(map(str, samples)) + "\n")
        for j, v in enumerate(variants.itertuples(index=False)):
            d = dosage[:, j]
            code = np.where(np.isnan(d), 3, np.nan_to_num(d)).astype(int)
            calls = np.where(male & xs[j], haploid[code], diploid[code])
            fh.write(f"{v.chrom}\t{v.pos}\t{v.variant_id}\t{v.ref}\t{v.alt}\t.\tPASS\t.\tGT\t" + "\t".join(calls) + "\n")
    return path


def _sex_codes(samples, sex: Mapping[str, str] | None, path: Path) -> np.ndarray | None:
    if sex is None:
        return None
    missing = [s for s in samples if s not in sex]
    if missing:
        raise ValidationError(
            f"{path}: sex: {len(missing)} sample(s) of the VCF have no sex given (e.g. {missing[:3]}); "
            "give 'M' or 'F' for every sample or pass sex=None"
        )
    codes = np.array([str(sex[s]).upper()[:1] for s in samples])
    bad = sorted(set(codes) - {"M", "F"})
    if bad:
        raise ValidationError(f"{path}: sex: expected 'M' or 'F' per sample, got {bad}")
    return codes == "M"


def _record_dosages(alleles: np.ndarray, n_alt: int, hemizygous: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Per-ALT dosage columns of one record from cyvcf2's ``genotype.array()`` (n, 3)."""
    first, second = alleles[:, 0], alleles[:, 1]
    haploid = second == -2
    missing = (first < 0) | ((second < 0) & ~haploid)
    out = np.empty((len(first), n_alt), dtype=np.float32)
    impossible = 0
    for j in range(1, n_alt + 1):
        d = (first == j).astype(np.float32) + (second == j)
        if hemizygous is not None:
            het = hemizygous & ~haploid & (first != second)
            impossible += int((het & ~missing).sum()) if j == 1 else 0
            d = np.where(hemizygous & ~haploid, np.where(het, np.nan, np.minimum(d, 1.0)), d)
        out[:, j - 1] = np.where(missing, np.nan, d)
    return out, impossible


def _bad_record(path: Path, record: int, width: int = 80) -> str:
    """Where the 1-based data ``record`` of a plain or gzipped VCF is: 'line L: text'."""
    import gzip

    if path.suffix == ".bcf":
        return f"record {record}"
    opener = gzip.open if path.suffix in (".gz", ".bgz") else open
    seen = 0
    with opener(path, "rt", errors="replace") as fh:
        for i, text in enumerate(fh, start=1):
            seen += not text.startswith("#")
            if seen == record:
                text = text.rstrip("\n")
                return f"line {i} {text if len(text) <= width else text[:width] + '...'!r}"
    return f"record {record}"


def read_vcf(
    path: str | Path,
    *,
    sex: Mapping[str, str] | None = None,
    build: str = "GRCh38",
    samples: list[str] | None = None,
) -> GenotypeMatrix:
    """Read a VCF, VCF.gz or BCF file into a :class:`GenotypeMatrix`.

    Parameters
    ----------
    path : path-like
    sex : mapping sample -> 'M' / 'F', optional
        Enables sex-aware coding of X (men hemizygous outside the pseudo-autosomal regions).
    build : {'GRCh38', 'GRCh37'}
        Genome build, for the pseudo-autosomal region boundaries.
    samples : list of str, optional
        Read only these samples (all by default).

    Raises
    ------
    ValidationError
        If the file is missing or not a VCF, a record is malformed (the message names the
        file and line), or ``sex`` is incomplete.
    """
    import cyvcf2

    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: no such VCF/BCF file")
    try:
        vcf = cyvcf2.VCF(str(path), samples=samples, gts012=False, lazy=True)
    except (OSError, Exception) as err:  # cyvcf2 raises bare Exception on a bad header
        raise ValidationError(f"{path}: not a readable VCF/BCF file ({err})") from err
    names = np.asarray(vcf.samples, dtype=object)
    if not len(names):
        raise ValidationError(f"{path}: the VCF has no samples")
    male = _sex_codes(names, sex, path)
    columns, rows = [], []
    impossible, n_records = 0, 0
    iterator = iter(vcf)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            break
        except Exception as err:  # htslib parse errors surface as bare Exception
            where = _bad_record(path, n_records + 1)
            raise ValidationError(f"{path}: {where} is malformed ({str(err).split(' error-code')[0]})") from err
        n_records += 1
        chrom, pos = normalise_chrom(record.CHROM), int(record.POS)
        alts = list(record.ALT) or ["."]
        nonpar = bool(x_nonpar([chrom], [pos], build)[0])
        alleles = record.genotype.array() if record.genotype is not None else np.full((len(names), 3), -1)
        dos, bad = _record_dosages(np.asarray(alleles), len(alts), male if (nonpar and male is not None) else None)
        impossible += bad
        base = record.ID or f"{chrom}:{pos}:{record.REF}"
        for j, alt in enumerate(alts):
            vid = base if len(alts) == 1 else f"{base}_{alt}"
            rows.append((vid, chrom, pos, record.REF, alt, nonpar))
            columns.append(dos[:, j])
    vcf.close()
    if not columns:
        raise ValidationError(f"{path}: the VCF has no variant records")
    variants = pd.DataFrame(rows, columns=["variant_id", "chrom", "pos", "ref", "alt", "x_nonpar"])
    log = [f"{path.name}: {n_records} record(s) -> {len(variants)} dosage column(s) for {len(names)} sample(s)"]
    dup = variants["variant_id"].duplicated(keep=False)
    if dup.any():
        variants.loc[dup, "variant_id"] = (
            variants.loc[dup, "chrom"] + ":" + variants.loc[dup, "pos"].astype(str) + ":" + variants.loc[dup, "ref"] + ":" + variants.loc[dup, "alt"]
        )
        log.append(f"{int(dup.sum())} column(s) shared a variant id and were renamed chrom:pos:ref:alt")
    n_x = int(variants["x_nonpar"].sum())
    if n_x and male is None:
        log.append(f"{n_x} chrX (non-PAR) column(s) coded as called: no sex given, so men are not recoded hemizygous")
    if impossible:
        log.append(f"{impossible} heterozygous chrX (non-PAR) call(s) in men set missing")
    dosage = np.column_stack(columns).astype(np.float32, copy=False)
    return GenotypeMatrix(samples=names.astype(str), dosage=dosage, variants=variants, log=log)
