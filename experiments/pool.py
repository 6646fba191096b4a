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
:func:`forked_call` runs one function in a forked copy of the caller, which needs no imports (``vclass run`` writes
its comparison lesson's folder in one while it writes its own).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
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
    _die_with(parent)
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


def forked_call(fn: Callable[..., Any], *args: Any) -> Forked:
    """Run ``fn(*args)`` now in a forked copy of this process, beside the caller's own work, such as writing one
    folder's plots while the caller writes another's. The copy has everything already imported and loaded, so it
    starts in milliseconds where a spawned worker spends a second importing; it dies with this process, and it
    leaves by ``os._exit``, skipping the interpreter's teardown. :meth:`Forked.result` waits for it.

    A forked process holds only the calling thread; ``fn`` must not use what other threads may hold (a thread pool
    of a library that runs in them: OpenVINO's, BLAS's), which plain numpy, matplotlib, Pillow and file writing do
    not. Nor does the copy's garbage collector finalize what was garbage at the fork (``gc.freeze``). Where
    ``os.fork`` does not exist, ``fn`` runs here, at once.
    """
    return Forked(fn, args)


class Forked:
    """The handle of :func:`forked_call`. ``result()`` gives what ``fn`` returned or raises its exception again,
    and raises :class:`WorkerLost` when the copy died without saying; ``close()`` ends a copy whose result nobody
    will ask for."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]):
        self._pid = 0
        self._outcome: tuple[bool, Any] | None = None
        if not hasattr(os, "fork"):
            self._outcome = _call(fn, args)
            return
        for stream in (sys.stdout, sys.stderr):  # what they hold would otherwise be written twice
            with contextlib.suppress(Exception):
                stream.flush()
        read, write = os.pipe()
        parent = os.getpid()
        # What is garbage now stays out of the copy's collector: its finalizers may wait for threads the copy does
        # not have (a dropped OpenVINO model's waits for its executor's threads, forever).
        frozen = gc.get_freeze_count()
        gc.freeze()
        try:
            with warnings.catch_warnings():  # Python >= 3.12 warns on a fork with threads; see the docstring above
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        finally:
            if not frozen and os.getpid() == parent:  # here, collect as before; the copy keeps it frozen
                gc.unfreeze()
        if pid == 0:  # the copy: never returns into the caller's code
            try:
                os.close(read)
                _die_with(parent)
                outcome = _call(fn, args)
                if not outcome[0]:  # its traceback does not travel with it: its text does, for ``vclass --debug``
                    outcome[1].add_note(
                        "raised in the forked copy:\n" + "".join(traceback.format_exception(outcome[1]))
                    )
                payload = _payload(outcome)
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(payload)
            finally:
                os._exit(0)
        os.close(write)
        self._pid, self._pipe = pid, os.fdopen(read, "rb")

    def result(self) -> Any:
        if self._outcome is None:
            with self._pipe:
                data = self._pipe.read()
            os.waitpid(self._pid, 0)
            self._pid = 0
            if not data:
                raise WorkerLost("the forked copy died before it finished")
            self._outcome = pickle.loads(data)
        ok, value = self._outcome
        if ok:
            return value
        raise value

    def close(self) -> None:
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = 0
            self._pipe.close()


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    try:
        return True, fn(*args)
    except BaseException as err:  # noqa: BLE001  # given back to the caller's result(), which raises it there
        return False, err


def _payload(outcome: tuple[bool, Any]) -> bytes:
    """``outcome`` pickled; as a RuntimeError with its text when it does not pickle, or would not unpickle (an
    exception whose ``__init__`` takes other arguments than its ``args``)."""
    try:
        data = pickle.dumps(outcome)
        pickle.loads(data)
        return data
    except Exception:  # noqa: BLE001  # whatever fails to pickle is sent as its text
        ok, value = outcome
        text = f"{type(value).__name__}: {value}" if not ok else f"an unpicklable result ({type(value).__name__})"
        return pickle.dumps((False, RuntimeError(text)))


def _die_with(parent: int) -> None:
    """Linux: the kernel kills this process when ``parent``'s thread that started it ends."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


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
