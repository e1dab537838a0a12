"""Wall time of ``causalrx run`` as a newcomer starts it, on an idle machine and under load,
and a screenshot of its HTML report in headless Chromium.

Each case runs the command in a fresh process (``/usr/bin/time``-style: wall, user and
system seconds from ``os.wait4``); ``--load N`` adds N busy processes that compete for the
CPUs, so the run gets about ``cpus / (cpus + N)`` of them. ``--git-ref REF`` runs the
package as it was at commit REF (a temporary git worktree, same virtual environment), which
is how the "before" figure of a change is measured. Rows are appended to
``benchmarks/results/run_time.csv``; the screenshot of the last report is saved as
``benchmarks/results/report_screenshot.png``.

    .venv/bin/python benchmarks/bench_run.py                       # the default (quick) run, idle
    .venv/bin/python benchmarks/bench_run.py --load 2              # the same with 2 busy processes
    .venv/bin/python benchmarks/bench_run.py --git-ref 7a0ac1f     # an earlier commit's default run
    .venv/bin/python benchmarks/bench_run.py --args --preset full  # the thorough run
    .venv/bin/python benchmarks/bench_run.py --keep run-output     # and keep the report it wrote
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def spin() -> None:
    while True:
        pass


def timed(command: list[str], env: dict) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err[-3000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load", type=int, default=0, help="busy processes competing for the CPUs")
    parser.add_argument("--git-ref", default=None, help="run the package as it was at this commit")
    parser.add_argument("--label", default=None, help="label of the row (default: the commit)")
    parser.add_argument("--args", nargs=argparse.REMAINDER, default=[], help="extra arguments of causalrx run")
    parser.add_argument("--no-screenshot", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="copy the run's output folder (report, tables, summary.json) here")
    opts = parser.parse_args()

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    ref = opts.git_ref or head
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        src = ROOT / "src"
        if opts.git_ref:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), opts.git_ref], cwd=ROOT, check=True, capture_output=True)
            src = tree / "src"
        env["PYTHONPATH"] = str(src)  # the package from that tree, the dependencies from this environment
        out = Path(tmp) / "out"
        command = [sys.executable, "-c", "from causalrx.cli import app; app()", "run", "--out", str(out), *opts.args]
        hogs = [multiprocessing.Process(target=spin, daemon=True) for _ in range(opts.load)]
        for h in hogs:
            h.start()
        try:
            row = timed(command, env)
        finally:
            for h in hogs:
                h.terminate()
            if opts.git_ref:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
        cpus = len(os.sched_getaffinity(0))
        row = {"label": opts.label or ref, "commit": ref, "args": " ".join(opts.args) or "(default)", "load_processes": opts.load,
               "cpus": cpus, "cpu_share_available": cpus / (cpus + opts.load) if opts.load else 1.0, **row}  # fmt: skip
        summary = out / "summary.json"
        if summary.is_file():  # seconds per stage, where the run records them
            for stage in json.loads(summary.read_text()).get("stages", []):
                if stage.get("status") == "ran":
                    row[f"s_{stage['stage'].replace(' ', '_')}"] = round(stage["seconds"], 1)
                    if stage.get("cpus") is not None:
                        row[f"cpus_{stage['stage'].replace(' ', '_')}"] = stage["cpus"]
        if not opts.no_screenshot and (out / "report.html").is_file():
            from causalrx.report.browser import check_report

            check = check_report(out / "report.html", RESULTS / "report_screenshot.png")
            row.update(page_errors=len(check.errors), page_sections=len(check.sections), page_ok=check.ok)
        if opts.keep is not None and out.is_dir():
            shutil.copytree(out, opts.keep, dirs_exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "run_time.csv"
    frame = pd.DataFrame([row])
    if path.is_file():
        frame = pd.concat([pd.read_csv(path), frame], ignore_index=True)
    frame.to_csv(path, index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(frame.tail(6).to_string(index=False, float_format=lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
