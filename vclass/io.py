"""Outputs: atomic files, folders that are whole or absent, locks against a second writer, valid JSON, provenance.

* :func:`atomic_write_bytes` and friends: a reader sees the old file or the whole new one.
* :func:`output_folder`: a command's folder is built in a hidden folder beside the target and put in place only when
  every file is written; an earlier folder at the target is replaced whole, or left untouched when the command fails
  or is killed. A second command writing the same target at the same time is refused.
* :func:`folder_lock`: the same refusal for folders written in place (a sweep folder resumes in place).
* :func:`to_json`: JSON that is always valid: NaN and infinities are written as ``null``.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import fcntl
import io
import json
import math
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from vclass.config import ConfigError

TRACKED_PACKAGES = (
    "vclass",
    "numpy",
    "simpy",
    "matplotlib",
    "torch",
    "onnxruntime",
    "openvino",
    "onnx",
    "gymnasium",
    "stable-baselines3",
    "hmmlearn",
    "numba",
)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone to read
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float (Python or numpy) replaced by None, so that it is valid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    if hasattr(obj, "dtype") and hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:  # a numpy scalar
        return json_safe(obj.item())
    return obj


def to_json(obj: Any) -> str:
    """Stable, valid JSON: sorted keys, ``json``'s own float formatting, NaN and infinities as ``null``, a trailing
    newline."""
    return json.dumps(json_safe(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, to_json(obj))


def pyplot() -> Any:
    """matplotlib's ``pyplot`` on the non-interactive Agg backend, imported on first use (it takes half a second,
    and only commands that draw need it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 110, tight: bool = True) -> None:
    """Save a matplotlib figure atomically as PNG and close it.

    :param tight: crop to what was drawn (``bbox_inches="tight"``, which draws the figure twice); a plot that sets
        its own margins passes False. PNG compression level 3: a third cheaper than the default, files ~10% larger.
    """

    buf = io.BytesIO()
    crop = {"bbox_inches": "tight"} if tight else {}
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 3}, **crop)
    atomic_write_bytes(path, buf.getvalue())
    pyplot().close(fig)


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The commit of the source tree (``+dirty`` when it has uncommitted changes), or None outside git."""
    here = Path(cwd) if cwd else Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def provenance(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """What a run folder records about how it was made (``run.json``)."""
    return {
        "config": config,
        "seed": seed,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "command": sys.argv,
        "platform": platform.platform(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def new_run_dir(base: str | Path = "runs") -> Path:
    """A fresh ``runs/<timestamp>`` path that nothing holds yet (suffixed when two runs start in the same second);
    not created: :func:`output_folder` puts the folder there."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(base)
    for i in range(1000):
        path = base / (stamp if i == 0 else f"{stamp}-{i}")
        if not path.exists() and not _lock_path(path).exists():
            return path
    raise ConfigError("--out", f"no free run folder name under {base}")


# -- folders that are whole or absent ---------------------------------------------------------------------------------
class _Lock:
    """An exclusive ``flock`` on a lock file, released when closed or when the process dies (the kernel drops it)."""

    def __init__(self, path: Path, what: str, field: str):
        self.path = path
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise ConfigError(field, f"cannot write beside {what}: {err.strerror or err}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise ConfigError(
                    field,
                    f"another vclass command (pid {holder}) is writing {what}; wait for it to finish, or use "
                    "another folder",
                ) from None
            try:  # the holder before us may have removed the file as it finished: lock the file that is there
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self, remove: bool) -> None:
        if remove:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(self.fd)


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def check_output_path(target: Path, field: str = "--out") -> None:
    """Refuse a target that cannot be a folder of outputs, before any work is done."""
    if target.exists() or target.is_symlink():
        mode = os.stat(target).st_mode if target.exists() else 0
        if not stat.S_ISDIR(mode):
            kind = "a file" if stat.S_ISREG(mode) else "not a folder"
            raise ConfigError(field, f"{target} is {kind}; give the path of a folder (it is created if missing)")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(field, f"{target} lies under {parent}, which is not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ConfigError(field, f"cannot write into {parent}: permission denied")
            break


_RENAME_EXCHANGE = 2  # renameat2(2) flag: swap two paths atomically (Linux >= 3.15)


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one atomic step; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_cwd = -100
    if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(b))


def _put_in_place(built: Path, target: Path) -> None:
    """Move the finished folder ``built`` to ``target``, replacing what is there in one step where possible."""
    if not target.exists():
        os.rename(built, target)
    elif _exchange(built, target):
        shutil.rmtree(built)  # now the old folder
    else:  # two renames: a kill between them leaves the old folder beside the target, under its hidden name
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.rename(target, old)
        os.rename(built, target)
        shutil.rmtree(old)
    with contextlib.suppress(OSError):  # make the renames durable
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def output_folder(target: str | Path, field: str = "--out") -> Iterator[Path]:
    """Build a command's output folder aside and put it at ``target`` only when the block ends without error.

    Checked before the block runs: ``target`` is (or can be) a folder we may write, and no other command is writing
    it (a lock beside it). The block writes into the folder it is given, a hidden sibling of ``target``; when it
    ends, that folder replaces ``target`` whole. If the block raises, or the process is killed, ``target`` is left as
    it was (leftovers of a killed build are removed by the next command writing ``target``).

    :param field: how the user named ``target``, for the one-line errors.
    :raises ConfigError: the target is a file or under one, not writable, or busy.
    """
    target = Path(target)
    check_output_path(target, field)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(field, f"cannot create {target.parent}: {err.strerror or err}") from None
    lock = _Lock(_lock_path(target), str(target), field)
    try:
        for stale in target.parent.glob(f".{target.name}.building-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a killed command's half-built folder: we hold the lock now
        for stale in target.parent.glob(f".{target.name}.old-*"):
            shutil.rmtree(stale, ignore_errors=True)
        built = target.parent / f".{target.name}.building-{os.getpid()}"
        try:
            built.mkdir()
        except OSError as err:
            raise ConfigError(field, f"cannot create a folder in {target.parent}: {err.strerror or err}") from None
        try:
            yield built
            _put_in_place(built, target)
        except BaseException:
            shutil.rmtree(built, ignore_errors=True)
            raise
    finally:
        lock.release(remove=True)


@contextlib.contextmanager
def folder_lock(folder: str | Path, field: str = "--out") -> Iterator[None]:
    """Hold ``folder``'s lock (a ``.lock`` file inside it) while the block runs: a second command writing the same
    folder is refused with one line. For folders written in place, such as a resumable sweep folder."""
    folder = Path(folder)
    lock = _Lock(folder / ".lock", str(folder), field)
    try:
        yield
    finally:
        lock.release(remove=False)
