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
    backend: Optional[str] = typer.Option(None, "--backend", help="Where cross-fitting folds, refits and candidates run: serial, "
                                          "joblib or ray (default: $CAUSALRX_BACKEND, else in this process)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (with --backend ray), e.g. auto."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="Local workers (default: the CPUs this process may use)."),
) -> None:
    from contextlib import nullcontext

    from causalrx.execution import using
    from causalrx.report.run import RunConfig, run_job

    overrides = {"preset": preset, "n": n, "n_drugs": drugs, "random_state": seed}
    cfg = RunConfig.from_file(config, **overrides) if config else RunConfig(**{k: v for k, v in overrides.items() if v is not None})
    chosen = backend is not None or address is not None or jobs is not None
    with using(backend, address=address, n_jobs=jobs) if chosen else nullcontext():
        written = run_job(cfg, out, progress=True, overwrite=overwrite)
    console.print(f"[green]report[/green] {written['report_html']} (and {written['report'].name})")
    console.print(f"[dim]{DISCLAIMER}[/dim]")


@app.command()
@user_errors
def export(
    out: Path = typer.Option(..., "--out", help="Folder to write the model bundle to."),
    cohort: Optional[Path] = typer.Option(None, "--cohort", help="A saved cohort (causalrx simulate/prep output, or a run's data/ "
                                          "folder); default: simulate one with --n, --drugs, --seed."),
    n: int = typer.Option(5000, "--n", help="Patients of the simulated cohort."),
    drugs: int = typer.Option(9, "--drugs", help="Drugs of the simulated cohort, the reference arm included."),
    seed: int = typer.Option(0, "--seed", help="Random seed (simulation and models)."),
    harm_weight: float = typer.Option(2.0, "--harm-weight", help="Efficacy units one adverse event costs."),
    trees: int = typer.Option(200, "--trees", help="Trees of each effect model."),
    rules: list[Path] = typer.Option([], "--rules", help="Extra YAML rule files (added to the library's rules)."),
    overwrite: bool = OVERWRITE,
) -> None:
    """Fit the serving models on a cohort and write a model bundle (models, rules, manifest with versions and checksums)."""
    from causalrx.api.bundle import export_bundle
    from causalrx.safety import RuleSet

    if cohort is None:
        from causalrx.data.simulate import simulate_cohort

        data = simulate_cohort(n=n, n_drugs=drugs, random_state=seed, ecg=False).cohort
    else:
        from causalrx.data.schema import Cohort
        from causalrx.data.simulate import SimulatedCohort

        data = SimulatedCohort.load(cohort).cohort if (cohort / "simulation.json").is_file() else Cohort.load(cohort)
    folder = export_bundle(data, out, harm_weight=harm_weight, rules=RuleSet.load(*rules), n_estimators=trees, random_state=seed,
                           overwrite=overwrite)  # fmt: skip
    console.print(f"[green]wrote[/green] the model bundle for {data.n_actions} drugs to {folder}")


@app.command()
@user_errors
def token(
    tokens: Path = typer.Option(..., "--tokens", help="The tokens file (JSON of SHA-256 digests and scopes; created if absent)."),
    name: str = typer.Option(..., "--name", help="Who the token is for (recorded as the caller in the audit log)."),
    scope: list[str] = typer.Option(["recommend"], "--scope", help="recommend, audit:read or admin (repeat for several)."),
) -> None:
    """Create a bearer token: its digest is stored, the token is printed once."""
    from causalrx.api.server import add_token

    typer.echo(add_token(tokens, name, scope))


@app.command()
@user_errors
def serve(
    bundle: Path = typer.Argument(..., help="A model bundle written by causalrx export."),
    tokens: Path = typer.Option(..., "--tokens", help="The tokens file (causalrx token)."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    audit_url: Optional[str] = typer.Option(None, "--audit-url", help="SQLAlchemy URL of the audit log; default SQLite in BUNDLE/state/."),
    max_body_bytes: int = typer.Option(1_000_000, "--max-body-bytes"),
    rate: int = typer.Option(120, "--rate", help="Requests per minute per caller."),
) -> None:
    """Serve recommendations over HTTP: CDS Hooks and a FHIR R4 endpoint (needs causalrx[serve])."""
    try:
        import uvicorn

        from causalrx.api.server import create_app
    except ImportError as err:
        raise _fail(f"the service needs the serve extra: pip install 'causalrx[serve]' ({err.name} is missing)") from err
    app_ = create_app(bundle, tokens=tokens, audit=audit_url, max_body_bytes=max_body_bytes, rate_per_minute=rate)
    uvicorn.run(app_, host=host, port=port, access_log=False)


@app.command()
@user_errors
def study(
    out: Path = typer.Option(..., "--out", help="CSV of the tidy rows; the summary goes beside it (<out>_summary.csv)."),
    n: int = typer.Option(2000, "--n", help="Patients per simulated cohort."),
    drugs: int = typer.Option(4, "--drugs", help="Drugs per cohort, the reference arm included."),
    confounding: list[float] = typer.Option([1.0], "--confounding", help="One setting per value (repeat for a grid)."),
    seeds: int = typer.Option(20, "--seeds", help="Replications per setting."),
    estimator: list[str] = typer.Option(["ipw", "aipw", "dml"], "--estimator", help="ipw, aipw, dml (repeat for several)."),
    outcome: str = typer.Option("efficacy", "--outcome", help="efficacy or adverse_event."),
    backend: Optional[str] = typer.Option(None, "--backend", help="serial, joblib or ray (default: $CAUSALRX_BACKEND, else joblib)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (with --backend ray), e.g. auto."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="Local workers (default: the CPUs this process may use)."),
) -> None:
    """A simulation study: ATE estimators x settings x seeds, with bias, RMSE and coverage against the simulator's truth."""
    from causalrx.study import simulation_study, summarise_study

    settings = {f"confounding={c:g}": {"n": n, "n_drugs": drugs, "confounding": c} for c in confounding}
    rows = simulation_study(settings, range(seeds), estimators=estimator, outcome=outcome, backend=backend, address=address,
                            n_jobs=jobs, progress=True)  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out, index=False)
    summary = summarise_study(rows)
    summary_path = out.with_name(f"{out.stem}_summary.csv")
    summary.to_csv(summary_path, index=False)
    typer.echo(summary.round(3).to_string(index=False))
    console.print(f"[green]wrote[/green] {len(rows)} rows to {out} and the summary to {summary_path}")


audit_app = typer.Typer(help="The service's audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("export")
@user_errors
def audit_export(
    out: Path = typer.Option(..., "--out", help="CSV file to write."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="The bundle whose state/audit.sqlite to read."),
    audit_url: Optional[str] = typer.Option(None, "--audit-url", help="SQLAlchemy URL of the audit log instead."),
) -> None:
    """Write every audit row to CSV, oldest first."""
    from causalrx.api.audit import AuditLog

    if (bundle is None) == (audit_url is None):
        raise ValidationError("give exactly one of --bundle and --audit-url")
    if bundle is not None and not (bundle / "state" / "audit.sqlite").is_file():
        raise ValidationError(f"{bundle / 'state' / 'audit.sqlite'}: no audit log (has the bundle been served?)")
    log = AuditLog(audit_url) if audit_url else AuditLog.in_folder(bundle / "state")
    console.print(f"[green]wrote[/green] {log.export_csv(out)} audit rows to {out}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
