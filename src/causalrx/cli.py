"""The ``causalrx`` command."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from causalrx.disclaimer import DISCLAIMER
from causalrx.exceptions import ValidationError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="causalrx: causal inference and off-policy evaluation of drug recommendations.")  # fmt: skip
console = Console(stderr=True, soft_wrap=True)
OVERWRITE = typer.Option(False, "--overwrite", help="Replace OUT even if it holds files causalrx did not write there.")


def _fail(message: str, code: int = 2):
    console.print(f"[red]error:[/red] {escape(' '.join(str(message).split()))}")
    return typer.Exit(code=code)


def user_errors(command):
    """Run a command so that a user's mistake prints one ``error:`` line and exits 2, never a traceback;
    an interrupted command exits 130 and says that its output folder was left as it was."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from causalrx.parallel import limit_threads

        limit_threads()  # thread pools sized to the CPUs this process may use (affinity, cgroup quota)
        try:
            return command(*args, **kwargs)
        except ValidationError as err:
            raise _fail(str(err)) from err
        except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError) as err:
            raise _fail(f"{err.filename}: {err.strerror}" if err.filename else str(err)) from err
        except KeyboardInterrupt as err:
            raise _fail("interrupted; nothing was moved into the output folder (a previous result there is intact)", 130) from err

    return wrapper


@app.command()
@user_errors
def simulate(
    out: Path = typer.Option(..., "--out", help="Folder to write the cohort (Parquet + manifest) and its ground truth."),
    n: int = typer.Option(5000, "--n", help="Number of patients."),
    drugs: int = typer.Option(6, "--drugs", help="Number of drugs, the reference arm included."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    confounding: float = typer.Option(1.0, help="Strength of observed confounding (0 = randomised)."),
    hidden_confounding: float = typer.Option(0.0, help="Strength of unobserved confounding."),
    overlap: float = typer.Option(1.0, help="Temperature of the clinicians' choices (below 1: less overlap)."),
    horizon: int = typer.Option(1, help="Visits per patient."),
    ecg: bool = typer.Option(True, help="Synthesise ECG waveforms."),
    overwrite: bool = OVERWRITE,
) -> None:
    """Simulate a multimodal cohort with ground truth and save it."""
    from causalrx.data.simulate import simulate_cohort
    from causalrx.data.simulate.truth import simulation_files
    from causalrx.data.storage import check_target

    check_target(out, overwrite=overwrite, owned=simulation_files, what="simulated cohort")
    sim = simulate_cohort(
        n=n, n_drugs=drugs, random_state=seed, confounding=confounding, hidden_confounding=hidden_confounding,
        overlap=overlap, horizon=horizon, ecg=ecg, progress=True,
    )  # fmt: skip
    folder = sim.save(out, overwrite=overwrite)
    console.print(f"[green]wrote[/green] {sim.cohort.n_patients} patients x {sim.cohort.n_actions} drugs to {folder}")


@app.command()
@user_errors
def prep(
    spec: Optional[Path] = typer.Argument(None, help="Preparation spec (YAML): the files and their column mappings."),
    out: Path = typer.Option(Path("causalrx-prepared"), "--out", help="Folder for the prepared cohort (Parquet + manifest)."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write the QC report (qc_report.md + CSV tables) to OUT."),
    example: Optional[Path] = typer.Option(None, "--example", help="Write example raw files and their spec to this folder, then prepare them."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the example files."),
    overwrite: bool = OVERWRITE,
) -> None:
    """Read raw files into a validated cohort, with a QC report (written together, atomically, into OUT)."""
    from causalrx.data.storage import atomic_folder, check_target, cohort_files, write_cohort
    from causalrx.prep import prepare_cohort
    from causalrx.prep.report import QC_FILES

    def owned(folder: Path):
        store = cohort_files(folder)
        return None if store is None else store | set(QC_FILES)

    check_target(out, overwrite=overwrite, owned=owned, what="prepared cohort")
    if example is not None:
        from causalrx.prep.example import write_example_files

        spec = write_example_files(example, random_state=seed)
        console.print(f"[green]example files[/green] {spec.parent}")
    if spec is None:
        raise ValidationError("give a SPEC file or --example FOLDER")
    cohort, qc = prepare_cohort(spec)
    with atomic_folder(out, overwrite=overwrite, owned=owned, what="prepared cohort") as tmp:
        write_cohort(cohort, tmp)
        if report:
            qc.save(tmp)
    console.print(f"[green]cohort[/green] {cohort.n_patients} patients x {cohort.n_actions} drugs -> {out}")
    if report:
        console.print(f"[green]QC report[/green] {out / 'qc_report.md'}")


def _run_help() -> str:
    from causalrx.report.config import KEYS

    keys = "\n\n".join(f"{name}: {text}" for name, text in KEYS.items())
    return (
        "Run the end-to-end job on simulated data and write its report to OUT (report.md and a self-contained "
        "report.html, moved into place when finished). The default quick preset takes a few minutes on 2 CPUs; "
        "--preset full runs 5,000 patients with the library defaults (about 10 minutes).\n\n"
        "Keys of a --config file (YAML or TOML), every value checked before any work starts:\n\n" + keys
    )


@app.command(help=_run_help())
@user_errors
def run(
    out: Path = typer.Option(Path("causalrx-output"), "--out", help="Folder for the outputs."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML or TOML file of settings (keys below)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Override: quick (default) or full."),
    n: Optional[int] = typer.Option(None, "--n", help="Override: number of patients."),
    drugs: Optional[int] = typer.Option(None, "--drugs", help="Override: number of drugs."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override: random seed."),
    overwrite: bool = OVERWRITE,
) -> None:
    from causalrx.report.run import RunConfig, run_job

    overrides = {"preset": preset, "n": n, "n_drugs": drugs, "random_state": seed}
    cfg = RunConfig.from_file(config, **overrides) if config else RunConfig(**{k: v for k, v in overrides.items() if v is not None})
    written = run_job(cfg, out, progress=True, overwrite=overwrite)
    console.print(f"[green]report[/green] {written['report_html']} (and {written['report'].name})")
    console.print(f"[dim]{DISCLAIMER}[/dim]")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
