"""Publishing a report folder: atomically, one run at a time, deleting only what this tool made.

Layout of a reports folder (``out``)::

    out/
      .lock                                   (the lock every run takes while it writes here)
      .builds/
        2010-10-20.20101020T061500.1a2b3c4d/  (a build: the report's files)
        2010-10-20.20101020T061500.1a2b3c4d.capacity   (the marker: "capacity made this build")
      2010-10-20 -> .builds/2010-10-20.20101020T061500.1a2b3c4d
      replay-2010-10-20 -> .builds/replay-2010-10-20.<stamp>.<token>
      latest -> 2010-10-20

**Publishing.** Every file goes into a fresh build folder; only when all are written does one
``rename`` of a symlink switch ``out/<name>`` to it, so a reader sees the old report or the new one,
never half of one.

**Ownership.** A build is this tool's when its marker file is beside it (builds written by versions
before markers are recognised by their name and their contents: report files only). The tool
deletes nothing else: ``out/<name>`` is replaced only when it is absent or a link to one of its own
builds, ``out/latest`` only when it is absent or a link to a date name; a link to anywhere else, a
folder or a file in their place is left alone and the run stops with a one-line
:class:`~capacity.errors.CapacityError` naming it, before anything is written.

**Locking and leftovers.** A run holds ``fcntl.flock`` on ``out/.lock`` while it writes, publishes and
cleans up (waiting at most :data:`LOCK_TIMEOUT` seconds for another run, then stopping with one
line). Holding the lock, it removes every build of its own that no link in ``out`` points at, the
leftovers of runs killed earlier (``kill -9``, a power cut) included. SIGINT and SIGTERM during the
write remove the run's own build, then take their usual course (``KeyboardInterrupt``, raised as
:class:`PublishInterrupted`, or the previous handler; death by the signal when that was the default);
once the link is switched the signal waits until publishing is finished, and
:attr:`PublishInterrupted.published` says that the report was published.

**``latest``** points at the newest as-of *date* among this tool's date reports in ``out`` (a link to
the date link, e.g. ``latest -> 2010-10-20``), not at the last run: rerunning an older date leaves it
where it is, a rerun of the newest date is followed through the date link, replays never move it.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from capacity.errors import CapacityError
from capacity.validation import PATH, Boolean, InstanceOf, Interval, Text, check_args, check_mapping

__all__ = ["publish", "check_destination", "PublishInterrupted", "LOCK_TIMEOUT", "BUILDS", "LOCK",
           "MARKER_SUFFIX", "LATEST"]

BUILDS = ".builds"
LOCK = ".lock"
LATEST = "latest"
MARKER_SUFFIX = ".capacity"
LOCK_TIMEOUT = 120.0
"""Seconds a run waits for another run writing into the same folder before it gives up."""

_SIGNATURE = "capacity report build\n"
_BUILD = re.compile(r"(?P<name>[^/]+)\.\d{8}T\d{6}\.[a-z0-9_]{8}")
_TMP_LINK = re.compile(r"\.[^/]+\.\d+\.link")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_REPORT_SUFFIXES = (".html", ".json", ".csv", ".svg", ".prom", ".parquet")


class PublishInterrupted(KeyboardInterrupt):
    """SIGINT (or SIGTERM) while a report was being published.

    Attributes
    ----------
    signum : int
        The signal received.
    published : Path or None
        The published link when the signal came after the report was published, else None (and the
        run's build was removed: nothing was written).
    """

    def __init__(self, signum: int, published: Path | None) -> None:
        self.signum, self.published = signum, published
        name = signal.Signals(signum).name
        super().__init__(f"{name} after the report was published: {published}" if published is not None
                         else f"{name}: nothing was written (the unfinished build was removed)")


# ----------------------------------------------------------------------------- ownership


def _is_date(name: str) -> bool:
    return bool(_DATE.fullmatch(name))


def _build_id(target: str) -> str | None:
    """The build a link target names, when it is exactly ``.builds/<build id>``, else None."""
    head, _, tail = target.partition("/")
    return tail if head == BUILDS and _BUILD.fullmatch(tail) else None


def _marker_ok(marker: Path) -> bool:
    try:
        if not stat.S_ISREG(marker.lstat().st_mode):
            return False
        with open(marker, "rb") as handle:
            return handle.read(len(_SIGNATURE)) == _SIGNATURE.encode()
    except OSError:
        return False


def _legacy(path: Path) -> bool:
    """A build made before markers: a real folder holding report files only."""
    try:
        if not stat.S_ISDIR(path.lstat().st_mode):
            return False
        return all(stat.S_ISREG(p.lstat().st_mode) and p.suffix in _REPORT_SUFFIXES for p in path.iterdir())
    except OSError:
        return False


def _owned(builds: Path, build: str) -> bool:
    """Whether ``builds/build`` is this tool's (or is gone: a link to it hides nothing)."""
    path = builds / build
    return _marker_ok(builds / (build + MARKER_SUFFIX)) or not os.path.lexists(path) or _legacy(path)


def _refuse(path: Path, what: str) -> CapacityError:
    return CapacityError(f"{path}: {what} that capacity did not make; left alone and nothing written "
                         "(move it away or choose another --out)")


def _check_link(out: Path, name: str) -> None:
    link = out / name
    if not os.path.lexists(link):
        return
    if link.is_symlink():
        target = os.readlink(link)
        if name == LATEST:
            if _is_date(target):
                return
        elif (build := _build_id(target)) is not None and _owned(out / BUILDS, build):
            return
        raise _refuse(link, f"a link to {target}")
    raise _refuse(link, "a folder" if link.is_dir() else "a file")


def check_destination(out: str | os.PathLike[str], name: str, *, latest: bool = False) -> None:
    """Check that a report can be published as ``out/name`` without touching anything not ours.

    Parameters
    ----------
    out : str or PathLike
        The reports folder (need not exist yet).
    name : str
        The report's link name, e.g. ``2010-10-20``.
    latest : bool, default False
        Whether ``out/latest`` will be moved too.

    Raises
    ------
    CapacityError
        One line naming the path: ``out`` is not a folder, or ``out/.builds``, ``out/name`` or
        ``out/latest`` is something this tool did not make.
    """
    check_args("check_destination", out=(out, PATH), name=(name, [Text()]), latest=(latest, [Boolean()]))
    out = Path(out)
    if not name or "/" in name or name.startswith(".") or name == LATEST:
        raise CapacityError(f"{name!r}: not a report name (a plain file name, not {LATEST!r})")
    if os.path.lexists(out) and not out.is_dir():
        raise CapacityError(f"{out}: the reports folder is a file, not a folder (--out or report.out)")
    builds = out / BUILDS
    if os.path.lexists(builds) and (builds.is_symlink() or not builds.is_dir()):
        raise _refuse(builds, "a link or a file")
    _check_link(out, name)
    if latest:
        _check_link(out, LATEST)


# ----------------------------------------------------------------------------- locking and signals


@contextmanager
def _locked(out: Path, timeout: float) -> Iterator[None]:
    """Hold ``flock`` on ``out/.lock``; after ``timeout`` seconds of waiting, a one-line CapacityError."""
    path = out / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise CapacityError(f"{path}: cannot open the lock file ({exc.strerror})") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CapacityError(f"{out}: another capacity run is writing here (waited {timeout:g} s "
                                        f"for {LOCK}); nothing written, try again when it is done") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


class _Stop(BaseException):
    """Raised by the signal handler inside the write, so that the build is removed on the way out."""


class _SignalGuard:
    """SIGINT/SIGTERM handlers for the duration of a ``with`` block (main thread only).

    Until :attr:`defer` is set a signal raises :class:`_Stop` where the run is; afterwards it is only
    recorded. On exit the previous handlers are restored and a recorded signal takes its course.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self.defer = False
        self.published: Path | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        if not self.defer:
            self.defer = True  # a second signal must not break the clean-up of the first
            raise _Stop

    def __enter__(self) -> _SignalGuard:
        if threading.current_thread() is threading.main_thread():
            self.defer = True  # while the handlers go in, a signal is only recorded
            for signum in self.SIGNALS:
                old = signal.getsignal(signum)
                if old is not None and old != signal.SIG_IGN:  # None: a handler not set from Python
                    self._old[signum] = signal.signal(signum, self._handle)
            self.defer = False
            if self.received is not None:  # it came while they went in: let it take its course now
                self.__exit__(None, None, None)
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        self.defer = True
        for signum, old in self._old.items():
            signal.signal(signum, old)
        if self.received is None:
            return False
        old = self._old[self.received]
        if old is signal.default_int_handler:
            raise PublishInterrupted(self.received, self.published) from None
        if old == signal.SIG_DFL:
            print(f"capacity: {PublishInterrupted(self.received, self.published)}", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), self.received)  # dies here, by the signal, as it would have without us
            time.sleep(1)  # (the signal is delivered before kill returns)
        else:
            old(self.received, None)  # the caller's own handler decides
        if self.published is None:
            raise PublishInterrupted(self.received, None) from None
        return False


# ----------------------------------------------------------------------------- builds


class _Taken(CapacityError):
    """The build's name exists already: someone writes into the build area without the lock."""


def _fresh_build(builds: Path, name: str) -> Path:
    """A build path whose folder and marker do not exist yet (the lock keeps it so)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    while True:
        build = builds / f"{name}.{stamp}.{secrets.token_hex(4)}"
        if not os.path.lexists(build) and not os.path.lexists(f"{build}{MARKER_SUFFIX}"):
            return build


def _make_build(build: Path) -> None:
    """Create the marker, then the (empty) build folder it vouches for."""
    try:
        fd = os.open(f"{build}{MARKER_SUFFIX}", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise _Taken(f"{build}{MARKER_SUFFIX}: exists already; is another program writing into "
                     f"{build.parent}?") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{_SIGNATURE}pid {os.getpid()}; removed by capacity once no report links here\n")
    build.mkdir()  # the umask applies, as to the files


def _write_file(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):  # e.g. the Parquet of inputs fetched from a server
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def _remove_build(builds: Path, build: str) -> None:
    """Remove a build of ours (never through a link), then its marker."""
    path = builds / build
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        if not stat.S_ISDIR(mode):
            return  # something else took its place: leave it, and the marker, alone
        shutil.rmtree(path)
    (builds / (build + MARKER_SUFFIX)).unlink(missing_ok=True)


def _clean_stale(out: Path) -> None:
    """Remove our temporary links and every build of ours that no link in ``out`` points at (locked)."""
    builds = out / BUILDS
    for entry in out.iterdir():
        if _TMP_LINK.fullmatch(entry.name) and entry.is_symlink():
            target = os.readlink(entry)
            if _build_id(target) is not None or _is_date(target):
                entry.unlink()
    referenced = {_build_id(os.readlink(p)) for p in out.iterdir() if p.is_symlink()}
    for entry in sorted(builds.iterdir()):
        name = entry.name
        if name.endswith(MARKER_SUFFIX):
            build = name.removesuffix(MARKER_SUFFIX)
            if _BUILD.fullmatch(build) and build not in referenced:
                empty = entry.is_file() and entry.stat().st_size == 0  # killed between open and write
                if _marker_ok(entry) or (empty and not os.path.lexists(builds / build)):
                    _remove_build(builds, build)
        elif (_BUILD.fullmatch(name.removesuffix(".partial")) and name not in referenced
              and not os.path.lexists(builds / (name + MARKER_SUFFIX)) and _legacy(entry)):
            shutil.rmtree(entry)  # a build of a version before markers


def _point(out: Path, name: str, target: str) -> None:
    """Point ``out/name`` at ``target`` atomically (a rename over the old link)."""
    tmp = out / f".{name}.{os.getpid()}.link"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, out / name)


def _point_latest(out: Path) -> None:
    builds = out / BUILDS
    dates = [p.name for p in out.iterdir() if _is_date(p.name) and p.is_symlink()
             and (build := _build_id(os.readlink(p))) is not None and (builds / build).is_dir()
             and _owned(builds, build)]
    if dates:
        _point(out, LATEST, max(dates))


# ----------------------------------------------------------------------------- publish


def publish(out: str | os.PathLike[str], name: str, files: Mapping[str, str | bytes], *, latest: bool = False,
            timeout: float | None = None) -> Path:
    """Write ``files`` into a new build and publish it as ``out/name`` (see the module docstring).

    Parameters
    ----------
    out : str or PathLike
        The reports folder; created if needed.
    name : str
        The link name, e.g. ``2010-10-20`` or ``replay-2010-10-20``.
    files : mapping of str to str or bytes
        File name -> text (written as UTF-8) or bytes.
    latest : bool, default False
        Also move ``out/latest`` to the newest date report.
    timeout : float, optional
        Seconds to wait for another run's lock; default :data:`LOCK_TIMEOUT`.

    Returns
    -------
    Path
        ``out/name``, a symlink to the build.

    Raises
    ------
    CapacityError
        ``out/name``, ``out/latest`` or ``out/.builds`` is not this tool's, a file name is not plain,
        or another run kept the lock for ``timeout`` seconds.
    PublishInterrupted
        SIGINT during the write (its ``published`` says whether the report was already published).
    """
    check_args("publish", out=(out, PATH), name=(name, [Text()]), latest=(latest, [Boolean()]),
               timeout=(timeout, [Interval(float, 0, None), None]))
    check_mapping("publish", "files", files, values=[InstanceOf(str, bytes)])
    bad = [f for f in files if not f or "/" in f or f.startswith(".")]
    if bad:
        raise CapacityError(f"{bad[0]!r}: not a plain file name for a report file")
    out = Path(out)
    check_destination(out, name, latest=latest)
    try:
        (out / BUILDS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CapacityError(f"{out}: cannot create the reports folder ({exc.strerror})") from None
    with _SignalGuard() as guard, _locked(out, LOCK_TIMEOUT if timeout is None else timeout):
        check_destination(out, name, latest=latest)  # again, now that no other run can change it
        build = _fresh_build(out / BUILDS, name)
        try:
            _make_build(build)
            for filename, text in files.items():
                _write_file(build / filename, text)
            guard.defer = True  # from here on a signal waits until publishing is finished
            _point(out, name, os.path.relpath(build, out))
        except BaseException as exc:
            guard.defer = True
            if not isinstance(exc, _Taken):
                _remove_build(out / BUILDS, build.name)
            raise
        guard.published = out / name
        if latest:
            _point_latest(out)
        _clean_stale(out)
    return out / name
