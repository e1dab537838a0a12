"""One execution backend for repeated work: serial, joblib (local default) or Ray.

``run_tasks(fn, tasks)`` calls ``fn(**kwargs, **shared)`` for every ``(key, kwargs)`` task and
returns the results in task order, whatever the backend and the number of workers:

- ``backend="serial"``: in this process, one task after the other;
- ``backend="joblib"``: local worker processes (``n_jobs`` as :func:`causalrx.parallel.resolve_n_jobs`,
  default the CPUs this process may use); each task runs under
  :func:`causalrx.parallel.cpu_budget` of one CPU, so pools never nest;
- ``backend="ray"`` (``pip install causalrx[ray]``): a Ray cluster at ``address`` (e.g.
  ``"auto"`` or ``"ray://head:10001"``), or a local one started for the call and shut down
  after it. ``shared`` objects (large arrays, a cohort) go to the object store once, not
  once per task; a task that raises is retried ``retries`` times.

The backend comes from the argument, else ``CAUSALRX_BACKEND`` (and ``CAUSALRX_RAY_ADDRESS``),
else joblib. A task that fails raises :class:`TaskError` naming the task's key. Seeds: derive
each task's seed with :func:`task_seed` from a base seed and the task's key, never from its
position or its worker, so numbers are identical across backends and worker counts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from causalrx.exceptions import ValidationError

BACKENDS = ("serial", "joblib", "ray")


class TaskError(RuntimeError):
    """A task raised: ``key`` is the task's identity, ``cause`` what it raised."""

    def __init__(self, key, cause: BaseException | str):
        self.text = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"task {key!r} failed: {self.text}")
        self.key, self.cause = key, cause

    def __reduce__(self):  # crosses process boundaries (joblib, Ray) with its key and text
        return (type(self), (self.key, self.text))


def task_seed(base: int | None, key) -> int:
    """A 32-bit seed from a base seed and a task's key (stable across processes and machines)."""
    digest = hashlib.sha256(f"{base}|{key!r}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def resolve_backend(backend: str | None = None, address: str | None = None) -> tuple[str, str | None]:
    backend = backend or os.environ.get("CAUSALRX_BACKEND") or "joblib"
    if backend not in BACKENDS:
        raise ValidationError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    address = address or (os.environ.get("CAUSALRX_RAY_ADDRESS") if backend == "ray" else None)
    if address is not None and backend != "ray":
        raise ValidationError(f"address: only the ray backend connects to a cluster (backend is {backend!r})")
    return backend, address


def _call(fn, key, kwargs, shared):
    try:
        return fn(**kwargs, **shared)
    except Exception as err:
        raise TaskError(key, err) from err


def _call_limited(fn, key, kwargs, shared):
    from causalrx.parallel import cpu_budget

    with cpu_budget(1):  # one process per CPU: BLAS, OpenMP, torch and any n_jobs=None pool inside get one CPU
        return _call(fn, key, kwargs, shared)


def run_tasks(fn: Callable[..., Any], tasks: Sequence[tuple[Any, dict]], *, backend: str | None = None, address: str | None = None,
              n_jobs: int | None = None, shared: dict | None = None, retries: int = 1, progress: bool = False,
              desc: str = "tasks", on_result: Callable[[Any, Any], None] | None = None) -> list:  # fmt: skip
    """Results of ``fn(**kwargs, **shared)`` for every ``(key, kwargs)`` in ``tasks``, in task order.

    ``on_result(key, result)`` is called as each task finishes (in completion order), e.g. to
    save results as they come so that a stopped run keeps what it completed.
    """
    from tqdm.auto import tqdm

    from causalrx.parallel import resolve_n_jobs

    backend, address = resolve_backend(backend, address)
    tasks = list(tasks)
    keys = [key for key, _ in tasks]
    if len(set(map(repr, keys))) != len(keys):
        raise ValidationError("tasks: every task needs a distinct key (its identity in errors and seeds)")
    shared = dict(shared or {})
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValidationError(f"retries: expected an integer >= 0, got {retries!r}")
    workers = resolve_n_jobs(n_jobs)
    bar = tqdm(total=len(tasks), desc=desc, disable=not progress)
    try:
        out: list = [None] * len(tasks)

        def done(i, result):
            out[i] = result
            if on_result is not None:
                on_result(tasks[i][0], result)
            bar.update()

        if backend == "serial" or (backend == "joblib" and (workers == 1 or len(tasks) <= 1)):
            for i, (key, kwargs) in enumerate(tasks):
                done(i, _call(fn, key, kwargs, shared))
            return out
        if backend == "joblib":
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=min(workers, len(tasks)), return_as="generator_unordered")(
                delayed(_indexed)(i, fn, key, kwargs, shared) for i, (key, kwargs) in enumerate(tasks)
            )
            for i, result in results:
                done(i, result)
            return out
        _run_ray(fn, tasks, address, workers if address is None else None, shared, retries, done)
        return out
    finally:
        bar.close()


def _indexed(i, fn, key, kwargs, shared):
    return i, _call_limited(fn, key, kwargs, shared)


def _run_ray(fn, tasks, address, num_cpus, shared, retries, done) -> None:
    try:
        import ray
    except ImportError as err:
        raise ValidationError("backend: 'ray' needs the ray extra: pip install 'causalrx[ray]'") from err
    started = not ray.is_initialized()
    if started:
        options = {"address": address} if address else {"num_cpus": num_cpus}
        ray.init(**options, include_dashboard=False, log_to_driver=False, configure_logging=False, ignore_reinit_error=True)
    try:
        refs = {name: ray.put(value) for name, value in shared.items()}  # once, not per task
        remote = ray.remote(max_retries=retries, retry_exceptions=True)(_ray_call)
        pending = {remote.remote(fn, key, kwargs, refs): i for i, (key, kwargs) in enumerate(tasks)}
        waiting = list(pending)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            i = pending[ready[0]]
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayTaskError as err:
                cause = err.cause if isinstance(getattr(err, "cause", None), BaseException) else err
                raise (cause if isinstance(cause, TaskError) else TaskError(tasks[i][0], cause)) from None
            done(i, result)
    finally:
        if started:
            ray.shutdown()


def _ray_call(fn, key, kwargs, shared):
    import ray

    resolved = {name: (ray.get(ref) if isinstance(ref, ray.ObjectRef) else ref) for name, ref in shared.items()}
    return _call_limited(fn, key, kwargs, resolved)
