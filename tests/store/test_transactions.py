"""Transactions, the writer lock, generation pins, validation before writing, resource failures, output files."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import aquaembed.store.atomic as atomic_mod
from aquaembed.cli import main
from aquaembed.data import Inferences
from aquaembed.errors import ConflictError, InputError, ParameterError, StoreError
from aquaembed.io.coco import load_coco_gt
from aquaembed.store import Store, StoredDataset
from aquaembed.store.atomic import write_output
from aquaembed.store.lock import writer_lock
from factories import content_signature, two_states, write_embeddings


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return two_states(tmp_path_factory.mktemp("inputs"), frames=(6, 9))


@pytest.fixture
def stored(tmp_path: Path, inputs: dict[str, Path]) -> StoredDataset:
    sd = Store(tmp_path / "data").create("ds", load_coco_gt(inputs["gt_a"]))
    ids = sd.dataset.frames.id
    sd.set_embeddings("frame", ids, np.random.default_rng(0).normal(size=(len(ids), 4)))
    return sd


def files(folder: Path) -> dict[str, bytes]:
    """Every data file and the manifest (lock, pins and kept manifests excepted)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.relative_to(folder).parts[0].startswith(".")
    }


# --------------------------------------------------------------------------- transactions


def test_a_transaction_publishes_everything_at_once_or_nothing(stored: StoredDataset) -> None:
    store = Store(stored.path.parent)
    n = len(stored.dataset.frames)
    with stored.transaction() as txn:
        stored.save_array("a", np.arange(3.0))
        rec = txn.parquet("reviews/verdicts", __import__("pyarrow").table({"x": [1, 2]}))
        txn.manifest.sections.setdefault("reviews", {})["verdicts"] = rec
        assert "a" in stored.artifact_names  # the writer sees its staged state ...
        assert "a" not in store.open("ds").artifact_names  # ... nobody else does yet
    after = store.open("ds")
    assert after.artifact_names == ["a"] and after.manifest.sections["reviews"]["verdicts"]["rows"] == 2
    assert (after.path / after.manifest.sections["reviews"]["verdicts"]["file"]).is_file()
    before = files(stored.path)
    with pytest.raises(RuntimeError, match="boom"), stored.transaction():
        stored.save_array("b", np.arange(2.0))
        stored.set_embeddings("frame", stored.dataset.frames.id, np.ones((n, 2)), replace=True)
        raise RuntimeError("boom")
    assert files(stored.path) == before  # staged files removed, manifest untouched
    assert stored.artifact_names == ["a"] and stored.manifest.embeddings["frame"]["dim"] == 4


def test_an_open_handle_keeps_its_generation_until_released(stored: StoredDataset) -> None:
    store = Store(stored.path.parent)
    reader = store.open("ds")
    reader.embeddings("frame")
    old_file = reader.path / reader.manifest.embeddings["frame"]["vectors"]["file"]
    n = len(stored.dataset.frames)
    stored.set_embeddings("frame", stored.dataset.frames.id, np.full((n, 4), 2.0), replace=True)
    assert old_file.exists()  # the reader still reads generation g
    assert reader.embeddings("frame")[1].shape == (n, 4)  # and its files open
    reader.release()
    stored.save_array("x", np.zeros(1))  # the next commit sweeps what nobody reads
    assert not old_file.exists()


def test_a_second_writer_waits_or_fails_fast(stored: StoredDataset) -> None:
    root = stored.path.parent
    told: list[str] = []
    with writer_lock(stored.path, "ds"):
        with pytest.raises(StoreError, match="being written by another process .pid"):
            Store(root, wait=False).open("ds").save_array("x", np.zeros(1))
        waiter = threading.Thread(target=lambda: Store(root, on_wait=told.append).open("ds").save_array("y", np.ones(1)))
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and told and "waiting" in told[0]
    waiter.join(30)
    assert Store(root).open("ds").artifact_names == ["y"]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "vectors,match",
    [
        (lambda n: np.vstack([np.ones((n - 1, 3)), np.zeros((1, 3))]), "all zeros .zero norm"),
        (lambda n: np.zeros((n, 0)), "d >= 1"),
        (lambda n: np.full((n, 3), np.nan), "NaN or infinite"),
    ],
)
def test_bad_embeddings_are_refused_before_the_first_write(
    tmp_path: Path, inputs: dict[str, Path], vectors, match: str  # type: ignore[no-untyped-def]
) -> None:
    data = tmp_path / "data"
    assert main(["ingest", "--data", str(data), "--name", "ds", "--gt", str(inputs["gt_a"])]) == 0
    before = files(data / "ds")
    doc_ids = Store(data).open("ds").dataset.frames.id
    np.savez(tmp_path / "bad.npz", ids=doc_ids, embeddings=vectors(len(doc_ids)))
    args = ["ingest", "--data", str(data), "--name", "ds", "--gt", str(inputs["gt_b"]), "--replace",
            "--frame-embeddings", str(tmp_path / "bad.npz")]
    with pytest.raises(InputError, match=match):
        from aquaembed.ingest import ingest

        ingest(data, "ds", gt=inputs["gt_b"], frame_embeddings=tmp_path / "bad.npz", replace=True)
    assert main(args) == 2
    assert files(data / "ds") == before


# --------------------------------------------------------------------------- stale artefacts


def test_an_artefact_built_from_replaced_embeddings_is_refused(stored: StoredDataset) -> None:
    from aquaembed.ingest import build_artifacts

    build_artifacts(stored)
    assert "index-frame" in stored.artifact_names
    stored.artifact_path("index-frame")
    n = len(stored.dataset.frames)
    stored.set_embeddings("frame", stored.dataset.frames.id, np.full((n, 4), 3.0), replace=True)  # no rebuild
    with pytest.raises(ConflictError, match="artefact 'index-frame' was built from frame embeddings"):
        stored.artifact_path("index-frame")
    with pytest.raises(ConflictError):
        stored.load_array("projection-frame")
    build_artifacts(stored)
    stored.artifact_path("index-frame")


# --------------------------------------------------------------------------- resource failures


def test_injected_disk_full_names_the_folder_and_keeps_the_previous_state(
    stored: StoredDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = files(stored.path)
    calls = {"n": 0}

    def full(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the second file of the operation
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_mod, "fsync", full)
    n = len(stored.dataset.frames)
    with pytest.raises(StoreError, match=f"no space left on {stored.path}"):
        stored.set_embeddings("frame", stored.dataset.frames.id, np.ones((n, 4)), replace=True)
    monkeypatch.undo()
    assert files(stored.path) == before


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                                           capture_output=True, check=False).returncode != 0:
        pytest.skip("mounting a tmpfs needs root (the injected-ENOSPC test covers the library)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aquaembed", *args], capture_output=True, text=True, check=False)


def test_full_and_read_only_disks_give_one_line_and_keep_the_dataset(tmp_path: Path, inputs: dict[str, Path]) -> None:
    big = tmp_path / "big.npz"
    gt_b = load_coco_gt(inputs["gt_b"])
    write_embeddings(big, gt_b.frames.id, 60_000, 3)  # ~2 MB of vectors: more than the disk holds
    with tmpfs(tmp_path / "disk", "1m") as disk:
        data = disk / "data"
        ok = _cli("ingest", "--data", str(data), "--name", "ds", "--gt", str(inputs["gt_a"]))
        assert ok.returncode == 0, ok.stderr
        old = content_signature(data, "ds")
        out = _cli("ingest", "--data", str(data), "--name", "ds", "--gt", str(inputs["gt_b"]), "--replace",
                   "--frame-embeddings", str(big))
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.strip().splitlines()[-1] == (
            f"aquaembed: error: cannot write embeddings/frame.g2.npy of dataset 'ds': no space left on {data / 'ds'}"
        )
        assert content_signature(data, "ds") == old
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        out = _cli("ingest", "--data", str(data), "--name", "ds", "--gt", str(inputs["gt_b"]), "--replace")
        assert out.returncode == 2 and "Traceback" not in out.stderr
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith("aquaembed: error: ") and "read-only file system" in last.lower(), last
        assert content_signature(data, "ds") == old


# --------------------------------------------------------------------------- output files


def test_outputs_replace_only_regular_files_with_the_umask_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    old = os.umask(0o027)
    try:
        write_output(target, b"{}", what="--json")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"{}" and stat.S_IMODE(target.stat().st_mode) == 0o640
    write_output(target, "[1]")
    assert target.read_text() == "[1]"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "link.json").symlink_to(victim)
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "dir.json").mkdir()
    for name, kind in (("link.json", "a symbolic link"), ("fifo.json", "a FIFO"), ("dir.json", "a folder")):
        with pytest.raises(ParameterError, match=f"is {kind}; refusing to replace it"):
            write_output(tmp_path / name, b"x", what="--json")
    assert victim.read_text() == "keep" and (tmp_path / "link.json").is_symlink()
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo.json").st_mode)
    with pytest.raises(ParameterError, match="a device"):
        write_output("/dev/null", b"x", what="--json")
    with pytest.raises(ParameterError, match="does not exist"):
        write_output(tmp_path / "nope" / "x.json", b"x", what="--json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.json", "fifo.json", "link.json", "out.json", "victim.txt"]


def test_evaluate_json_refuses_a_symlink_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aquaembed.synthetic import write_coco

    gt, pred = write_coco(tmp_path / "src", 3, n_classes=2, labels_per_frame=2, preds_per_frame=3, seed=0)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "out.json").symlink_to(victim)
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a symbolic link; refusing to replace it" in err[0]
    assert victim.read_text() == "keep"


def test_replacing_inferences_without_rebuild_is_one_commit(tmp_path: Path, inputs: dict[str, Path]) -> None:
    """add-inferences --replace swaps the set, its crop embeddings and the crop index together."""
    from aquaembed.ingest import add_inferences, ingest

    data = tmp_path / "data"
    ingest(data, "ds", gt=inputs["gt_a"], label_embeddings=inputs["labels_a"])
    add_inferences(data, "ds", model="m", pred=inputs["pred_a"], pred_embeddings=inputs["predemb_a"])
    sd = add_inferences(data, "ds", model="m", pred=inputs["pred_b"], pred_embeddings=inputs["predemb_b"], replace=True)
    table = np.asarray(sd.load_array("crops"))
    n_pred = len(sd.dataset.inference_set("m"))
    assert (table[:, 0] == 1).sum() == n_pred and sd.manifest.counts.inferences["m"] == n_pred
    assert isinstance(sd.dataset.inference_set("m"), Inferences)
