"""Tests of publishing a report folder: only our own builds are deleted, runs lock the folder, leftovers of
killed, interrupted and concurrent runs are removed (real subprocesses and real signals)."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from capacity.errors import CapacityError
from capacity.report.publish import MARKER_SUFFIX, PublishInterrupted, publish

ROOT = Path(__file__).resolve().parents[2]
FILES = {"index.html": "<p>report</p>\n", "summary.json": "{}\n", "deadlines.csv": "a,b\n1,2\n",
         "growth.svg": "<svg/>\n"}

# A run in its own process; it stalls (and says so by creating READY) at one step so that the test can
# signal or kill it there: "write" stalls while writing the second file, "published" after the link is
# switched, "none" does not stall. Exit 130 with a JSON line when PublishInterrupted reaches it.
CHILD = r"""
import json, sys, time
from pathlib import Path
import capacity.report.publish as publish

out, name, phase, ready, seconds = sys.argv[1:6]
FILES = json.loads(sys.argv[6])
calls = []

def stall(original, after):
    def stalled(*args, **kwargs):
        calls.append(1)
        if len(calls) == after:
            Path(ready).touch()
            time.sleep(float(seconds))
        return original(*args, **kwargs)
    return stalled

if phase == "write":
    publish._write_file = stall(publish._write_file, 2)
elif phase == "published":
    publish._clean_stale = stall(publish._clean_stale, 1)
try:
    publish.publish(out, name, FILES, latest=not name.startswith("replay-"))
except publish.PublishInterrupted as exc:
    published = None if exc.published is None else str(exc.published)
    print(json.dumps({"published": published, "message": str(exc)}))
    sys.exit(130)
"""


def start(out: Path, name: str, phase: str = "none", seconds: float = 60) -> tuple[subprocess.Popen, Path]:
    ready = out.parent / f"ready-{name}-{time.monotonic_ns()}"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out), name, phase, str(ready), str(seconds),
                              json.dumps(FILES)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    return child, ready


def wait_ready(child: subprocess.Popen, ready: Path) -> None:
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the child never reached the stall"
        time.sleep(0.02)


def assert_only_links_and_referenced_builds(out: Path) -> set[str]:
    """Everything in ``out`` is a link, the lock or the build area; every build is linked, with its marker."""
    links = {p.name: os.readlink(p) for p in out.iterdir() if p.is_symlink()}
    assert {p.name for p in out.iterdir() if not p.is_symlink()} <= {".lock", ".builds"}
    assert not [n for n in links if n.startswith(".")], links  # no temporary links left
    referenced = {Path(t).name for t in links.values() if t.startswith(".builds/")}
    expected = referenced | {b + MARKER_SUFFIX for b in referenced}
    assert {p.name for p in (out / ".builds").iterdir()} == expected
    for build in referenced:
        assert {p.name for p in (out / ".builds" / build).iterdir()} == set(FILES)
    if "latest" in links:
        assert links["latest"] == max(n for n in links if n[:1].isdigit())
    return referenced


# ----------------------------------------------------------------------------- item 1: only our own builds


def test_rerun_refuses_a_date_link_to_elsewhere_and_deletes_nothing(tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "keep.txt").write_text("precious")
    out = tmp_path / "out"
    publish(out, "2010-10-20", FILES, latest=True)
    (out / "2010-10-20").unlink()
    (out / "2010-10-20").symlink_to(archive)
    match = r"out/2010-10-20: a link to .*archive that capacity did not make; left alone and nothing written"
    with pytest.raises(CapacityError, match=match) as info:
        publish(out, "2010-10-20", FILES, latest=True)
    assert "\n" not in str(info.value)
    assert (archive / "keep.txt").read_text() == "precious"
    assert os.readlink(out / "2010-10-20") == str(archive)


@pytest.mark.parametrize("what", ["folder", "file", "link-to-builds-elsewhere", "latest-folder",
                                  "latest-link", "builds-link"])
def test_anything_we_did_not_make_is_left_alone_and_refused(tmp_path, what):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("precious")
    if what == "folder":
        (out / "2010-10-20").mkdir()
        (out / "2010-10-20" / "keep.txt").write_text("precious")
    elif what == "file":
        (out / "2010-10-20").write_text("precious")
    elif what == "link-to-builds-elsewhere":  # the right shape of name, but not a build of ours
        (out / ".builds").mkdir()
        (out / ".builds" / "2010-10-20.20101020T000000.abcdefgh").mkdir()
        (out / ".builds" / "2010-10-20.20101020T000000.abcdefgh" / "notes.txt").write_text("precious")
        (out / "2010-10-20").symlink_to(".builds/2010-10-20.20101020T000000.abcdefgh")
    elif what == "latest-folder":
        (out / "latest").mkdir()
    elif what == "latest-link":
        (out / "latest").symlink_to(elsewhere)
    elif what == "builds-link":
        (out / ".builds").symlink_to(elsewhere)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(CapacityError, match=r"that capacity did not make; left alone and nothing written"):
        publish(out, "2010-10-20", FILES, latest=True)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert (elsewhere / "keep.txt").read_text() == "precious"


def small_sample_config(tmp_path: Path) -> Path:
    """The sample config with absolute data paths and 100 paths (a quick run)."""
    sample = ROOT / "capacity" / "sample"
    text = (sample / "plan.toml").read_text().replace("n_paths = 2000", "n_paths = 100")
    for name in ("apps", "messaging"):
        text = text.replace(f'{name} = "{name}.csv"', f'{name} = "{sample / (name + ".csv")}"')
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_cli_rerun_with_the_date_link_pointing_outside_exits_2_and_keeps_the_target(tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "keep.txt").write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "2010-10-20").symlink_to(archive)
    done = subprocess.run([sys.executable, "-m", "capacity.cli", "forecast", "--config",
                           str(small_sample_config(tmp_path)), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 2
    message = done.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert f"{out / '2010-10-20'}: a link to {archive} that capacity did not make" in message
    assert (archive / "keep.txt").read_text() == "precious"
    assert os.readlink(out / "2010-10-20") == str(archive)
    assert not (out / ".builds").exists() or not any((out / ".builds").iterdir())


def test_builds_of_earlier_versions_are_ours_but_foreign_folders_in_the_area_are_kept(tmp_path):
    out = tmp_path / "out"
    builds = out / ".builds"
    builds.mkdir(parents=True)
    legacy = builds / "2010-10-20.20101020T061500.k2j4_x9a"  # an earlier version's build: linked
    legacy.mkdir()
    (legacy / "index.html").write_text("old")
    (out / "2010-10-20").symlink_to(".builds/" + legacy.name)
    (builds / "2010-10-19.20101019T061500.abcdefgh.partial").mkdir()  # an earlier version's leftover
    mine = builds / "2010-10-18.20101018T061500.zzzzzzzz"  # build-shaped, but holds a folder: not ours
    (mine / "sub").mkdir(parents=True)
    (builds / "notes").mkdir()
    publish(out, "2010-10-20", FILES, latest=True)
    assert not legacy.exists()  # replaced by the rerun, and removed
    assert sorted(p.name for p in builds.iterdir() if not p.name.endswith(MARKER_SUFFIX)) == sorted(
        [Path(os.readlink(out / "2010-10-20")).name, mine.name, "notes"])


# ----------------------------------------------------------------------------- item 8: leftovers and locks


@pytest.mark.parametrize("phase", ["write", "published"])
def test_kill_9_then_rerun_leaves_no_orphans(tmp_path, phase):
    out = tmp_path / "out"
    publish(out, "2010-10-20", FILES, latest=True)
    child, ready = start(out, "2010-10-20", phase)
    wait_ready(child, ready)
    child.kill()
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert len([p for p in (out / ".builds").iterdir() if p.is_dir()]) == 2  # a leftover, as a kill leaves
    publish(out, "2010-10-21", FILES, latest=True)
    assert len(assert_only_links_and_referenced_builds(out)) == 2
    assert os.readlink(out / "latest") == "2010-10-21"


def test_sigterm_mid_write_removes_the_runs_build_and_dies_by_the_signal(tmp_path):
    out = tmp_path / "out"
    publish(out, "2010-10-20", FILES, latest=True)
    before = os.readlink(out / "2010-10-20")
    child, ready = start(out, "2010-10-20", "write")
    wait_ready(child, ready)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGTERM  # exit status 143 in a shell
    assert err.strip() == "capacity: SIGTERM: nothing was written (the unfinished build was removed)"
    assert os.readlink(out / "2010-10-20") == before
    assert assert_only_links_and_referenced_builds(out) == {Path(before).name}


def test_sigint_mid_write_removes_the_runs_build_and_says_nothing_was_written(tmp_path):
    out = tmp_path / "out"
    publish(out, "2010-10-20", FILES, latest=True)
    before = os.readlink(out / "2010-10-20")
    child, ready = start(out, "2010-10-20", "write")
    wait_ready(child, ready)
    child.send_signal(signal.SIGINT)
    printed, _ = child.communicate(timeout=30)
    assert child.returncode == 130
    message = "SIGINT: nothing was written (the unfinished build was removed)"
    assert json.loads(printed) == {"published": None, "message": message}
    assert assert_only_links_and_referenced_builds(out) == {Path(before).name}


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_after_publishing_waits_for_the_clean_up_and_says_the_report_was_published(tmp_path, signum):
    out = tmp_path / "out"
    publish(out, "2010-10-20", FILES, latest=True)
    before = os.readlink(out / "2010-10-20")
    child, ready = start(out, "2010-10-20", "published", seconds=1.0)
    wait_ready(child, ready)
    child.send_signal(signum)
    printed, err = child.communicate(timeout=30)
    message = f"{signal.Signals(signum).name} after the report was published: {out / '2010-10-20'}"
    if signum == signal.SIGINT:
        assert child.returncode == 130
        assert json.loads(printed) == {"published": str(out / "2010-10-20"), "message": message}
    else:
        assert child.returncode == -signal.SIGTERM
        assert err.strip() == f"capacity: {message}"
    assert os.readlink(out / "2010-10-20") != before  # the new report is the one published
    assert assert_only_links_and_referenced_builds(out) == {Path(os.readlink(out / "2010-10-20")).name}


@pytest.mark.slow
def test_concurrent_runs_end_with_exactly_the_links_and_their_builds(tmp_path):
    out = tmp_path / "out"
    names = ["2010-10-20", "2010-10-21", "2010-10-20", "replay-2010-10-20"] * 2
    # 8 runs started at once, each writing for 0.3 s: without the lock they would interleave
    children = [start(out, name, "write", seconds=0.3)[0] for name in names]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    referenced = assert_only_links_and_referenced_builds(out)
    assert {p.name for p in out.iterdir() if p.is_symlink()} == {"2010-10-20", "2010-10-21",
                                                                 "replay-2010-10-20", "latest"}
    assert len(referenced) == 3
    assert os.readlink(out / "latest") == "2010-10-21"


def test_a_run_waits_for_the_lock_then_refuses_with_one_line(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        start_time = time.monotonic()
        with pytest.raises(CapacityError, match=r"out: another capacity run is writing here \(waited 0\.3 s "
                                                r"for \.lock\); nothing written") as info:
            publish(out, "2010-10-20", FILES, timeout=0.3)
        assert time.monotonic() - start_time >= 0.3
    assert "\n" not in str(info.value)
    assert not os.path.lexists(out / "2010-10-20")
    assert not any((out / ".builds").iterdir())


def test_a_run_waits_while_another_holds_the_lock_then_publishes(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    held = open(out / ".lock", "w")  # released by the timer below
    fcntl.flock(held, fcntl.LOCK_EX)
    threading.Timer(0.5, held.close).start()
    assert publish(out, "2010-10-20", FILES, timeout=30) == out / "2010-10-20"
    assert_only_links_and_referenced_builds(out)


def test_handlers_are_installed_only_around_the_write_and_restored(tmp_path):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    publish(tmp_path / "out", "2010-10-20", FILES)
    assert {s: signal.getsignal(s) for s in before} == before


def test_publishing_from_a_worker_thread_works_without_handlers(tmp_path):
    errors: list[BaseException] = []

    def run() -> None:
        try:
            publish(tmp_path / "out", "2010-10-20", FILES)
        except BaseException as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert errors == []
    assert_only_links_and_referenced_builds(tmp_path / "out")


def test_publish_interrupted_is_a_keyboard_interrupt_that_says_what_happened():
    published = PublishInterrupted(signal.SIGINT, Path("out/2010-10-20"))
    assert isinstance(published, KeyboardInterrupt)
    assert str(published) == "SIGINT after the report was published: out/2010-10-20"
    assert str(PublishInterrupted(signal.SIGINT, None)).startswith("SIGINT: nothing was written")


def test_file_names_must_be_plain(tmp_path):
    with pytest.raises(CapacityError, match=r"'\.\./x': not a plain file name"):
        publish(tmp_path / "out", "2010-10-20", {"../x": "no"})
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"out": 3}, r"publish: out must be"),
        ({"name": ""}, r"publish: name must be"),
        ({"files": {"index.html": 3}}, r"publish: files\['index.html'\] must be a str"),
        ({"timeout": -1}, r"publish: timeout must be a finite number >= 0"),
        ({"latest": 1}, r"publish: latest must be True or False"),
    ],
    ids=["out", "name", "files", "timeout", "latest"],
)
def test_bad_arguments_are_refused_naming_the_argument(tmp_path, kwargs, match):
    from capacity.errors import ArgumentError

    call = {"out": tmp_path / "out", "name": "2010-10-20", "files": FILES, **kwargs}
    with pytest.raises(ArgumentError, match=match):
        publish(**call)
    assert not (tmp_path / "out").exists()


def test_bytes_are_written_as_they_are(tmp_path):
    link = publish(tmp_path / "out", "2010-10-20", {"apps.parquet": b"PAR1\x00\xff", "index.html": "é"})
    assert (link / "apps.parquet").read_bytes() == b"PAR1\x00\xff"
    assert (link / "index.html").read_bytes() == "é".encode()
