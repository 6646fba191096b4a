"""Where a sweep's runs execute: local worker processes (the default) or a Ray cluster.

Both executors run a picklable, module-level function on tasks and yield
``(task, result)`` pairs as tasks finish, in whatever order they finish; the
caller puts results back in order. A task's result is what the function
returned, or a :class:`WorkerLost` when the process running it died (a
segfault, ``os._exit``, the OOM killer) so that it returned nothing. The
function is expected to catch its own exceptions: the executors do not retry,
so each task runs once unless the caller resubmits it.

``local``: a ``concurrent.futures`` process pool (spawned processes, one
thread of BLAS each). A dying worker breaks the whole pool, so every task in
flight at that moment comes back as :class:`WorkerLost` and a fresh pool
takes the remaining tasks; ``isolated=True`` keeps one task in flight at a
time, which pins a crash on the task that caused it.

``ray``: tasks as Ray remote functions (one CPU each, no retries), on the
cluster at ``address`` or on a local Ray instance started for the sweep and
stopped after it. Ray is optional: ``pip install -e .[cluster]``.

:func:`start_process` runs one function in a process of the same kind, that dies with its parent (the
workbench runs each comparison's sweep in one, so that stopping the server stops the sweep).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from multiprocessing.process import BaseProcess
from typing import Any

from tqdm import tqdm

from vclass.config import ConfigError

EXECUTORS = ("local", "ray")
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class WorkerLost(RuntimeError):
    """The process that ran a task died before returning."""


_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when the thread that started it ends


def _worker_setup(parent: int) -> None:
    """Pool initializer: one BLAS/OpenMP thread per worker, so N workers use N cores; and the worker dies with the
    command that started it, even when that command is killed (SIGKILL leaves it no chance to stop its pool)."""
    for name in _THREAD_VARS:
        os.environ.setdefault(name, "1")
    with contextlib.suppress(OSError, AttributeError):  # Linux: the kernel kills us when the parent goes
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent was gone before the prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="vclass-parent-watch").start()


def _watch_parent(parent: int) -> None:
    """Elsewhere than Linux, or if the prctl could not be set: poll, and leave when the parent is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def start_process(fn: Callable[..., Any], *args: Any) -> BaseProcess:
    """Run ``fn(*args)`` in a spawned process that dies with this one, as the pool's workers do
    (:func:`_worker_setup`); a process it starts in turn, such as a sweep's pool, dies with it. Started from the
    calling thread, which should outlive the process (on Linux the kernel ends it when that thread ends).

    :param fn: a picklable, module-level function.
    """
    process = get_context("spawn").Process(target=_follow_parent, args=(os.getpid(), fn, args), daemon=False)
    process.start()
    return process


def _follow_parent(parent: int, fn: Callable[..., Any], args: tuple) -> None:
    _worker_setup(parent)
    fn(*args)


class BackgroundWorker:
    """One spawned worker process, started at once so that its start and imports overlap the caller's work
    (:func:`background_worker`). :meth:`submit` runs a picklable, module-level function there; the handle's
    ``result()`` gives what it returned or raises its exception again, and raises :class:`WorkerLost` when the
    worker died."""

    def __init__(self, modules: tuple[str, ...]):
        self._pool = ProcessPoolExecutor(
            1, mp_context=get_context("spawn"), initializer=_warm_worker, initargs=(os.getpid(), modules)
        )
        self._pool.submit(int)  # start the process (and its imports) now

    def submit(self, fn: Callable[..., Any], *args: Any) -> _Outcome:
        return _Outcome(self._pool.submit(fn, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BackgroundWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Outcome:
    def __init__(self, future: Any):
        self._future = future

    def result(self) -> Any:
        try:
            return self._future.result()
        except BrokenProcessPool:
            raise WorkerLost("the background worker died before it finished") from None


def background_worker(*modules: str) -> BackgroundWorker:
    """A worker process started now, with ``modules`` imported there (one BLAS thread, dying with this process as
    the pool's workers do): for work that can run beside the caller's, such as writing one folder's plots while
    the caller writes another's."""
    return BackgroundWorker(modules)


def _warm_worker(parent: int, modules: tuple[str, ...]) -> None:
    _worker_setup(parent)
    for name in modules:
        importlib.import_module(name)


class LocalExecutor:
    """A pool of ``workers`` spawned processes.

    :param workers: processes (>= 1).
    :param isolated: keep one task in flight, so a crash is pinned on its task.
    """

    name = "local"

    def __init__(self, workers: int = 2, isolated: bool = False):
        self.workers = workers
        self.in_flight = 1 if isolated else 2 * workers
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1 if self.in_flight == 1 else self.workers,
            mp_context=get_context("spawn"),
            initializer=_worker_setup,
            initargs=(os.getpid(),),
        )

    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        queue = iter(tasks)
        running: dict[Any, Any] = {}
        exhausted = False
        while True:
            while not exhausted and len(running) < self.in_flight:
                task = next(queue, _END)
                if task is _END:
                    exhausted = True
                    break
                try:
                    running[self._live_pool().submit(fn, task)] = task
                except BrokenProcessPool:  # broke between two submissions: start again with a fresh pool
                    self._replace_pool()
                    running[self._live_pool().submit(fn, task)] = task
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                task = running.pop(future)
                try:
                    yield task, future.result()
                except BrokenProcessPool as err:
                    broken = True
                    yield task, WorkerLost(f"worker process died ({err})")
            if broken:  # every other task of the dead pool is lost too
                for future, task in list(running.items()):
                    running.pop(future)
                    yield task, WorkerLost("worker process died while another task ran in its pool")
                self._replace_pool()

    def _live_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = self._new_pool()
        return self._pool

    def _replace_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Ray remote tasks, one CPU each.

    :param workers: CPUs of the local Ray instance started when ``address`` is empty; with an address, the
        most tasks kept in flight per CPU-pair (default: twice the cluster's CPUs).
    :param address: an existing cluster (``ray://host:10001``, ``host:6379`` or ``auto``); empty: a local instance.
    :param isolated: accepted for symmetry with :class:`LocalExecutor`; a Ray task's crash never takes others.
    """

    name = "ray"

    def __init__(self, workers: int | None = 2, address: str = "", isolated: bool = False):
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "--executor", "ray is not installed; pip install -e .[cluster] (or use --executor local)"
            ) from None
        self.ray = ray
        self.started_here = not ray.is_initialized()
        if self.started_here:
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "logging_level": logging.WARNING,
                "log_to_driver": False,
            }
            if address:
                check_reachable(address)
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = workers or 2
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise ConfigError("--address", f"cannot reach a Ray cluster at {address!r}: {err}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = cpus if address or not workers else workers
        self.in_flight = 2 * self.workers  # Ray runs each task in its own worker: isolated already
        del isolated
        self._remote: dict[Callable, Any] = {}

    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        ray = self.ray
        if fn not in self._remote:
            self._remote[fn] = ray.remote(num_cpus=1, max_retries=0)(fn)
        remote = self._remote[fn]
        queue = iter(tasks)
        running: dict[Any, Any] = {}
        exhausted = False
        while True:
            while not exhausted and len(running) < self.in_flight:
                task = next(queue, _END)
                if task is _END:
                    exhausted = True
                    break
                running[remote.remote(task)] = task
            if not running:
                return
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                task = running.pop(ref)
                try:
                    yield task, ray.get(ref)
                except Exception as err:  # noqa: BLE001 - a dead worker, or an error Ray itself raised
                    yield task, WorkerLost(f"ray task failed: {type(err).__name__}: {str(err)[:500]}")

    def close(self) -> None:
        if self.started_here and self.ray.is_initialized():
            self.ray.shutdown()


ADDRESS_TIMEOUT_SECONDS = 5.0


def check_reachable(address: str, timeout: float = ADDRESS_TIMEOUT_SECONDS) -> None:
    """Refuse, within ``timeout`` seconds, a Ray address that nothing answers at (``ray.init`` would wait for it
    without end). ``auto`` is left to Ray, which says at once when no cluster runs here."""
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("--address", f"must be auto, host:port or ray://host:port, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise ConfigError(
            "--address",
            f"nothing answers at {host}:{port} ({err.strerror or err}, waited at most {timeout:g} s); "
            "is the Ray cluster up?",
        ) from None


class SerialExecutor:
    """Runs tasks one after another in this process (tiny sweeps: ``vclass regress``, benchmarks' baseline).

    No isolation: a task that kills its process kills the caller.
    """

    name = "serial"
    workers = 1

    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        for task in tasks:
            yield task, fn(task)

    def close(self) -> None:
        pass


_END = object()


def run_jobs(fn: Callable[[Any], Any], jobs: list[Any], workers: int = 1, desc: str = "lessons") -> list[Any]:
    """``fn`` on every job, in ``workers`` processes (in this one when 1), with a progress bar; results in job order.

    :raises RuntimeError: when a worker process died (a job that kills its process cannot return a result).
    """
    executor = make_executor("serial" if workers == 1 else "local", workers)
    results: dict[int, Any] = {}
    try:
        with tqdm(total=len(jobs), desc=desc, unit=desc.rstrip("s") or "job") as bar:
            for (index, _), result in executor.imap_unordered(_indexed(fn), list(enumerate(jobs))):
                if isinstance(result, WorkerLost):
                    raise RuntimeError(f"job {index}: {result}")
                results[index] = result
                bar.update()
    finally:
        executor.close()
    return [results[i] for i in range(len(jobs))]


class _indexed:
    """``fn`` on the job of an ``(index, job)`` task (picklable, for the process pool)."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn

    def __call__(self, task: tuple[int, Any]) -> Any:
        return self.fn(task[1])


def make_executor(kind: str, workers: int | None = 2, address: str = "", isolated: bool = False):
    """The executor called ``kind`` (``local`` or ``ray``)."""
    if kind == "local":
        if address:
            raise ConfigError("--address", "only the ray executor takes an address")
        return LocalExecutor(workers or 2, isolated=isolated)
    if kind == "serial":
        return SerialExecutor()
    if kind == "ray":
        return RayExecutor(workers, address, isolated=isolated)
    raise ConfigError("--executor", f"must be one of {', '.join(EXECUTORS)}, got {kind!r}")
