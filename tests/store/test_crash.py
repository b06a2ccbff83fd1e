"""Writing commands killed (SIGKILL) at random moments, and two writers at once.

Each trial restores the "old" state, starts the real CLI command, kills it after a
random delay within its clean run time, and reads the dataset back: it must read to
exactly the old content or exactly the new one. ``benchmarks/bench_crash.py`` runs the
same experiment at a larger scale (and against other checkouts).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aquaembed.store import Store
from factories import content_signature, two_states

pytestmark = pytest.mark.slow

KILLS = 10
"""Kills per command (bounded: each costs one run of the command)."""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "aquaembed", *args]


_ZYGOTE = r"""
import json, os, sys
from aquaembed.cli import main
import aquaembed.ingest  # every import the writing commands need, done once
print("ready", flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if req["op"] == "start":
        pid = os.fork()
        if pid == 0:
            null = os.open(os.devnull, os.O_RDWR)
            err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(null, 0); os.dup2(null, 1); os.dup2(err, 2)
            try:
                code = main(req["args"])
            except SystemExit as exc:
                code = exc.code
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(int(code or 0))
        print(pid, flush=True)
    else:
        _, status = os.waitpid(req["pid"], 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
"""


class Forker:
    """Runs the CLI's ``main`` in processes forked from one that has done the imports.

    Each command is its own process (killed with SIGKILL like any other); only the
    seconds of importing numpy, pyarrow and FAISS are paid once.
    """

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        assert self._read() == "ready"
        self.n = 0

    def _read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def _send(self, req: dict[str, object]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()

    def start(self, args: list[str]) -> tuple[int, Path]:
        """Start ``aquaembed ARGS``; returns its pid and the file its stderr goes to."""
        self.n += 1
        err = self.logs / f"stderr-{self.n}.txt"
        self._send({"op": "start", "args": args, "stderr": str(err)})
        return int(self._read()), err

    def wait(self, pid: int) -> int:
        """Reap a started command; its exit status (``-9`` when killed)."""
        self._send({"op": "wait", "pid": pid})
        return int(self._read())

    def run(self, args: list[str]) -> float:
        """Run a command to its end; asserts exit status 0; returns its duration."""
        t0 = time.perf_counter()
        pid, err = self.start(args)
        assert self.wait(pid) == 0, err.read_text()
        return time.perf_counter() - t0

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def forker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forker]:
    f = Forker(tmp_path_factory.mktemp("logs"))
    yield f
    f.close()


def _run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return time.perf_counter() - t0


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return two_states(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, inputs: dict[str, Path], forker: Forker) -> Path:
    """A data directory in the "old" state: dataset A with inference set ``m``."""
    data = tmp_path_factory.mktemp("pristine") / "data"
    setup, _ = _commands(data, inputs)["ingest"]
    for step in setup:
        forker.run(step)
    return data


def _commands(data: Path, p: dict[str, Path]) -> dict[str, tuple[list[list[str]], list[str]]]:
    d = ["--data", str(data), "--name", "ds"]
    setup = [
        ["ingest", *d, "--gt", str(p["gt_a"]), "--frame-embeddings", str(p["frames_a"]),
         "--label-embeddings", str(p["labels_a"])],
        ["add-inferences", *d, "--model", "m", "--pred", str(p["pred_a"]), "--pred-embeddings", str(p["predemb_a"])],
    ]
    return {
        "ingest": (setup, ["ingest", *d, "--gt", str(p["gt_b"]), "--frame-embeddings", str(p["frames_b"]),
                           "--label-embeddings", str(p["labels_b"]), "--replace"]),
        "add-inferences": (setup, ["add-inferences", *d, "--model", "m", "--pred", str(p["pred_b"]),
                                   "--pred-embeddings", str(p["predemb_b"]), "--replace"]),
    }


@pytest.mark.parametrize("command", ["ingest", "add-inferences"])
def test_killed_writer_leaves_old_or_new(
    tmp_path: Path, inputs: dict[str, Path], pristine: Path, forker: Forker, command: str
) -> None:
    data = tmp_path / "data"
    _, cmd = _commands(data, inputs)[command]
    shutil.copytree(pristine, data, symlinks=True)
    old = content_signature(data, "ds")
    duration = forker.run(cmd)  # also caches the new state's projections, as a retry would find them
    new = content_signature(data, "ds")
    assert old != new
    rng = random.Random(f"{command}-kills")
    seen = {"old": 0, "new": 0}
    for _ in range(KILLS):
        shutil.rmtree(data)
        shutil.copytree(pristine, data, symlinks=True)
        pid, _ = forker.start(cmd)
        time.sleep(rng.uniform(0.0, 1.0) * duration)
        os.kill(pid, signal.SIGKILL)
        forker.wait(pid)
        sig = content_signature(data, "ds")  # raises if the dataset does not read cleanly
        assert sig in (old, new), "a killed command left a mix of the old and the new dataset"
        seen["old" if sig == old else "new"] += 1
    # the lock died with the process: the real command runs again at once and completes
    _run(_cli(*cmd, "--no-wait"))
    assert content_signature(data, "ds") == new
    # nothing but the committed generation's files is left after that run
    folder = data / "ds"
    listed = Store(data).open("ds").manifest.referenced()
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if path.is_file() and not parts[0].startswith(".") and parts != ("manifest.json",):
            assert any("/".join(parts[:i]) in listed for i in range(1, len(parts) + 1)), f"{path} left behind"


def test_two_writers_of_one_name_serialise(tmp_path: Path, inputs: dict[str, Path], forker: Forker) -> None:
    data = tmp_path / "data"
    d = ["--data", str(data), "--name", "ds"]
    a = ["ingest", *d, "--gt", str(inputs["gt_a"]), "--frame-embeddings", str(inputs["frames_a"]),
         "--label-embeddings", str(inputs["labels_a"]), "--replace"]
    b = ["ingest", *d, "--gt", str(inputs["gt_b"]), "--frame-embeddings", str(inputs["frames_b"]),
         "--label-embeddings", str(inputs["labels_b"]), "--replace"]
    states = {}
    for name, cmd in (("a", a), ("b", b)):  # each alone: the two complete states
        forker.run(cmd)
        states[content_signature(data, "ds")] = name
    for trial in range(3):
        started = [forker.start(cmd) for cmd in ((a, b) if trial % 2 else (b, a))]
        codes = [forker.wait(pid) for pid, _ in started]
        assert codes == [0, 0], [err.read_text() for _, err in started]
        assert content_signature(data, "ds") in states  # exactly one run's dataset, not a mix
    # fail fast: while one writer holds the lock, --no-wait stops with one line, exit 2
    from aquaembed.store.lock import writer_lock

    with writer_lock(data / "ds", "ds"):
        out = subprocess.run(_cli(*a, "--no-wait"), capture_output=True, text=True, timeout=120, check=False)
        assert out.returncode == 2
        assert out.stderr.strip().splitlines()[-1].startswith("aquaembed: error: dataset 'ds' is being written by another process")
        assert "Traceback" not in out.stderr
        pid, err = forker.start(a)
        deadline = time.monotonic() + 60
        while "waiting" not in (err.read_text() if err.exists() else ""):
            assert time.monotonic() < deadline, "the second writer did not say it waits"
            time.sleep(0.05)
        time.sleep(0.2)
        assert "stored dataset" not in err.read_text()  # still waiting for the lock
    assert forker.wait(pid) == 0
    assert "is being written by another process" in err.read_text()
    assert states.get(content_signature(data, "ds")) == "a"
