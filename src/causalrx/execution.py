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

The backend comes from the argument, else the innermost :func:`using` block, else
``CAUSALRX_BACKEND`` (and ``CAUSALRX_RAY_ADDRESS``), else joblib. A task that fails raises
:class:`TaskError` naming the task's key. Seeds: derive each task's seed with :func:`task_seed`
from a base seed and the task's key, never from its position or its worker, so numbers are
identical across backends and worker counts.

The inner loops of estimators (cross-fitting folds, FQE's bootstrap refits and cross-fitted
Q-models, :class:`~causalrx.effects.CateSelector`'s candidates, :func:`~causalrx.compare.compare`'s
fold fits) go through :func:`run_inner`: in this process unless a backend is configured
(``with using("ray", address="auto"):``, ``CAUSALRX_BACKEND``, ``causalrx run --backend``), and
always in this process inside a task of :func:`run_tasks`, so pools never nest. Their fits are
seeded by their arguments, not by the order they run in, so every backend gives the same numbers.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
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


_SETTINGS: list[dict] = []  # set by using(), innermost last
_IN_TASK: list[object] = []  # keys of the tasks this worker process is running (nested calls run serially)


def _configured() -> dict:
    return _SETTINGS[-1] if _SETTINGS else {}


def resolve_backend(backend: str | None = None, address: str | None = None) -> tuple[str, str | None]:
    """The backend and Ray address: the arguments, else :func:`using`'s, else the environment, else joblib."""
    config = _configured()
    backend = backend or config.get("backend") or os.environ.get("CAUSALRX_BACKEND") or "joblib"
    if backend not in BACKENDS:
        raise ValidationError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "ray":
        address = address or config.get("address") or os.environ.get("CAUSALRX_RAY_ADDRESS")
    if address is not None and backend != "ray":
        raise ValidationError(f"address: only the ray backend connects to a cluster (backend is {backend!r})")
    return backend, address


@contextmanager
def using(backend: str | None = None, *, address: str | None = None, n_jobs: int | None = None):
    """Run the block's repeated work on ``backend``: :func:`run_tasks` calls that name none, and the
    inner loops of estimators (:func:`run_inner`). ``n_jobs`` is the number of local workers
    (default: the CPUs this process may use). With ``"ray"`` and no Ray running, a local Ray
    (or the cluster at ``address``) is started once for the whole block and shut down after it."""
    from causalrx.parallel import resolve_n_jobs

    backend, address = resolve_backend(backend, address)
    workers = resolve_n_jobs(n_jobs)
    started = backend == "ray" and _init_ray(address, workers)
    _SETTINGS.append({"backend": backend, "address": address, "n_jobs": n_jobs})
    try:
        yield backend
    finally:
        _SETTINGS.pop()
        if started:
            import ray

            ray.shutdown()


def run_inner(fn: Callable[..., Any], tasks: Sequence[tuple[Any, dict]], *, shared: dict | None = None, progress: bool = False,
              desc: str = "folds") -> list:  # fmt: skip
    """:func:`run_tasks` for the inner loops of an estimator (folds, refits, candidates), raising the tasks' own errors.

    They run in this process, one after the other, unless a backend is configured (:func:`using`
    or ``CAUSALRX_BACKEND``); always so inside a task of :func:`run_tasks` (one CPU each, pools
    never nest). ``fn`` must be seeded by its arguments, so that the order makes no difference.
    """
    configured = bool(_SETTINGS) or bool(os.environ.get("CAUSALRX_BACKEND"))
    backend = None if configured and not _IN_TASK else "serial"
    return run_tasks(fn, tasks, backend=backend, shared=shared, progress=progress, desc=desc, task_errors=False)


def _call(fn, key, kwargs, shared, task_errors=True):
    if not task_errors:
        return fn(**kwargs, **shared)
    try:
        return fn(**kwargs, **shared)
    except Exception as err:
        raise TaskError(key, err) from err


def _call_limited(fn, key, kwargs, shared, task_errors=True):
    from causalrx.parallel import cpu_budget

    _IN_TASK.append(key)
    try:
        with cpu_budget(1):  # one process per CPU: BLAS, OpenMP, torch and any n_jobs=None pool inside get one CPU
            return _call(fn, key, kwargs, shared, task_errors)
    finally:
        _IN_TASK.pop()


def run_tasks(fn: Callable[..., Any], tasks: Sequence[tuple[Any, dict]], *, backend: str | None = None, address: str | None = None,
              n_jobs: int | None = None, shared: dict | None = None, retries: int = 1, progress: bool = False,
              desc: str = "tasks", on_result: Callable[[Any, Any], None] | None = None, task_errors: bool = True) -> list:  # fmt: skip
    """Results of ``fn(**kwargs, **shared)`` for every ``(key, kwargs)`` in ``tasks``, in task order.

    ``on_result(key, result)`` is called as each task finishes (in completion order), e.g. to
    save results as they come so that a stopped run keeps what it completed. ``task_errors=False``
    raises a failed task's own exception instead of a :class:`TaskError`.
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
    if n_jobs is None:
        n_jobs = _configured().get("n_jobs")
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
                done(i, _call(fn, key, kwargs, shared, task_errors))
            return out
        if backend == "joblib":
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=min(workers, len(tasks)), return_as="generator_unordered")(
                delayed(_indexed)(i, fn, key, kwargs, shared, task_errors) for i, (key, kwargs) in enumerate(tasks)
            )
            for i, result in results:
                done(i, result)
            return out
        _run_ray(fn, tasks, address, workers, shared, retries, done, task_errors)
        return out
    finally:
        bar.close()


def _indexed(i, fn, key, kwargs, shared, task_errors=True):
    return i, _call_limited(fn, key, kwargs, shared, task_errors)


def _init_ray(address: str | None, num_cpus: int) -> bool:
    """Start (or connect to, with ``address``) Ray unless it is running; returns whether it was started here."""
    try:
        import ray
    except ImportError as err:
        raise ValidationError("backend: 'ray' needs the ray extra: pip install 'causalrx[ray]'") from err
    if ray.is_initialized():
        return False
    options = {"address": address} if address else {"num_cpus": num_cpus}
    ray.init(**options, include_dashboard=False, log_to_driver=False, configure_logging=False, ignore_reinit_error=True)
    return True


def _run_ray(fn, tasks, address, num_cpus, shared, retries, done, task_errors=True) -> None:
    started = _init_ray(address, num_cpus)
    import ray

    try:
        refs = {name: ray.put(value) for name, value in shared.items()}  # once, not per task
        remote = ray.remote(max_retries=retries, retry_exceptions=True)(_ray_call)
        pending = {remote.remote(fn, key, kwargs, refs, task_errors): i for i, (key, kwargs) in enumerate(tasks)}
        waiting = list(pending)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            i = pending[ready[0]]
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayTaskError as err:
                cause = err.cause if isinstance(getattr(err, "cause", None), BaseException) else err
                if isinstance(cause, TaskError) or (not task_errors and cause is not err):
                    raise cause from None
                raise TaskError(tasks[i][0], cause) from None
            done(i, result)
    finally:
        if started:
            ray.shutdown()


def _ray_call(fn, key, kwargs, shared, task_errors=True):
    import ray

    resolved = {name: (ray.get(ref) if isinstance(ref, ray.ObjectRef) else ref) for name, ref in shared.items()}
    return _call_limited(fn, key, kwargs, resolved, task_errors)
