"""Crash consistency: kill writing commands with SIGKILL at random moments, classify the result.

For each writing command (``ingest --replace`` and ``add-inferences --replace``) the
script builds an "old" state, measures the command's clean duration ``T``, records the
content signature of the clean "old" and "new" states, then ``--kills`` times: restores
the old state, starts the command, kills it after a uniform random delay in
``[0.15 T, 1.05 T]`` and reads the dataset back. Each trial is ``old`` (exactly the old
content), ``new`` (exactly the new content) or ``mixed`` (anything else, including an
unreadable dataset or an artefact that does not open).

The signature is computed in a subprocess running the same code as the command, so the
script measures any checkout::

    python benchmarks/bench_crash.py --kills 20                      # this tree
    python benchmarks/bench_crash.py --kills 20 --code /tmp/main     # another checkout

Not a test (it takes minutes); ``tests/store/test_crash.py`` runs a bounded version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIGNATURE = r"""
import hashlib, json, sys
import numpy as np
from aquaembed.store import Store

def h(*arrays):
    d = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        d.update(str(a.dtype).encode() + str(a.shape).encode())
        d.update(a.tobytes() if a.dtype.kind != "O" else repr(a.tolist()).encode())
    return d.hexdigest()[:16]

try:
    sd = Store(sys.argv[1]).open(sys.argv[2])
    ds = sd.dataset
    sig = {"frames": h(ds.frames.id), "labels": h(ds.labels.id, ds.labels.box),
           "inferences": {n: h(i.box, i.score) for n, i in ds.inferences.items()},
           "embeddings": {k: h(*sd.embeddings(k)) for k in sd.embedding_kinds}, "artifacts": {}}
    for name in sd.artifact_names:
        info = sd.artifact_info(name)
        if info.get("kind") == "array":
            sig["artifacts"][name] = h(sd.load_array(name))
        else:
            import faiss
            index = faiss.read_index(str(sd.artifact_path(name) / "index.faiss"))
            sig["artifacts"][name] = int(index.ntotal)
    print(json.dumps(sig, sort_keys=True))
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__ + ": " + " ".join(str(exc).split())}))
"""


LAUNCH = r"""
import runpy, sys
code = sys.argv.pop(1)
if code:  # run that checkout, not the editable install of this one
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
    sys.path.insert(0, code)
    for mod in [m for m in sys.modules if m == "aquaembed" or m.startswith("aquaembed.")]:
        del sys.modules[mod]
what = sys.argv.pop(1)
if what == "-c":
    exec(compile(sys.argv.pop(1), "<signature>", "exec"), {"__name__": "__main__"})
else:
    runpy.run_module(what, run_name="__main__", alter_sys=True)
"""


def _py(code: Path | None, *args: str) -> list[str]:
    return [sys.executable, "-c", LAUNCH, str(code or ""), *args]


def _env(code: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "aquaembed-numba-cache"))
    return env


def signature(data: Path, name: str, code: Path | None) -> str:
    out = subprocess.run(
        _py(code, "-c", SIGNATURE, str(data), name), env=_env(code), capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def _npz(path: Path, ids: list[int], dim: int, seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    np.savez(path, ids=np.asarray(ids, dtype=np.int64), embeddings=rng.normal(size=(len(ids), dim)).astype(np.float32))


def make_inputs(src: Path, frames_a: int, frames_b: int) -> dict[str, Path]:
    """Two ground truths (A, B) with embeddings, and two results files over A (with crop embeddings)."""
    from aquaembed.synthetic import write_coco

    paths: dict[str, Path] = {}
    for tag, n, seed in (("a", frames_a, 1), ("b", frames_b, 2)):
        gt, pred = write_coco(src / tag, n, n_classes=5, labels_per_frame=3, preds_per_frame=6, seed=seed)
        doc = json.loads(gt.read_text())
        _npz(src / f"frames_{tag}.npz", [im["id"] for im in doc["images"]], 16, seed)
        _npz(src / f"labels_{tag}.npz", [an["id"] for an in doc["annotations"]], 12, seed + 10)
        paths[f"gt_{tag}"], paths[f"pred_{tag}"] = gt, pred
        paths[f"frames_{tag}"], paths[f"labels_{tag}"] = src / f"frames_{tag}.npz", src / f"labels_{tag}.npz"
    preds = json.loads(paths["pred_a"].read_text())
    rng = random.Random(5)
    pred_b = [dict(p, score=round(p["score"] * rng.uniform(0.5, 1.0), 4)) for p in preds if rng.random() < 0.7]
    paths["pred_b"] = src / "pred_b2.json"
    paths["pred_b"].write_text(json.dumps(pred_b))
    _npz(src / "predemb_a.npz", list(range(len(preds))), 12, 21)
    _npz(src / "predemb_b.npz", list(range(len(pred_b))), 12, 22)
    paths["predemb_a"], paths["predemb_b"] = src / "predemb_a.npz", src / "predemb_b.npz"
    return paths


def cli(code: Path | None, *args: str) -> list[str]:
    return _py(code, "aquaembed", *args)


def run(cmd: list[str], code: Path | None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=_env(code), check=True, capture_output=True)
    return time.perf_counter() - t0


def scenarios(data: Path, p: dict[str, Path]) -> dict[str, tuple[list[list[str]], list[str]]]:
    """Per command: the setup commands giving the old state, and the command under test."""
    d = ["--data", str(data), "--name", "ds"]
    ingest_a = ["ingest", *d, "--gt", str(p["gt_a"]), "--frame-embeddings", str(p["frames_a"]),
                "--label-embeddings", str(p["labels_a"])]
    add_a = ["add-inferences", *d, "--model", "m", "--pred", str(p["pred_a"]), "--pred-embeddings", str(p["predemb_a"])]
    return {
        "ingest --replace": (
            [ingest_a, add_a],
            ["ingest", *d, "--gt", str(p["gt_b"]), "--frame-embeddings", str(p["frames_b"]),
             "--label-embeddings", str(p["labels_b"]), "--replace"],
        ),
        "add-inferences --replace": (
            [ingest_a, add_a],
            ["add-inferences", *d, "--model", "m", "--pred", str(p["pred_b"]), "--pred-embeddings",
             str(p["predemb_b"]), "--replace"],
        ),
    }


def trials(work: Path, code: Path | None, kills: int, seed: int, frames: tuple[int, int]) -> dict[str, dict[str, int]]:
    rng = random.Random(seed)
    inputs = make_inputs(work / "src", *frames)
    results: dict[str, dict[str, int]] = {}
    for label, (setup, command) in scenarios(work / "data", inputs).items():
        pristine = work / "pristine"
        for path in (work / "data", pristine):
            shutil.rmtree(path, ignore_errors=True)
        for cmd in setup:
            run(cli(code, *cmd), code)
        shutil.copytree(work / "data", pristine, symlinks=True)
        old = signature(work / "data", "ds", code)
        duration = run(cli(code, *command), code)  # also fills the projection cache of the new state
        new = signature(work / "data", "ds", code)
        assert old != new and '"error"' not in old + new, (old, new)
        counts = {"old": 0, "new": 0, "mixed": 0}
        examples: list[str] = []
        for _ in range(kills):
            shutil.rmtree(work / "data")
            shutil.copytree(pristine, work / "data", symlinks=True)
            proc = subprocess.Popen(cli(code, *command), env=_env(code), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.15, 1.05) * duration)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            sig = signature(work / "data", "ds", code)
            kind = "old" if sig == old else "new" if sig == new else "mixed"
            counts[kind] += 1
            if kind == "mixed" and len(examples) < 2:
                examples.append(sig[:200])
        results[label] = {**counts, "duration_s": round(duration, 2)}
        print(f"{label:<26} T={duration:5.2f}s  old {counts['old']:>3}  new {counts['new']:>3}  mixed {counts['mixed']:>3}",
              flush=True)
        for ex in examples:
            print(f"    mixed e.g. {ex}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="kills per command (default 20)")
    parser.add_argument("--code", type=Path, default=None, help="checkout to run (put on PYTHONPATH)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, nargs=2, default=(200, 300), metavar=("A", "B"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aquaembed-crash-") as tmp:
        code = args.code.resolve() if args.code else None
        where = subprocess.run(_py(code, "-c", "import aquaembed; print(aquaembed.__file__)"),
                               env=_env(code), capture_output=True, text=True, check=True).stdout.strip()
        print(f"code: {where}; {args.kills} kills per command; frames {args.frames[0]} -> {args.frames[1]}")
        digest = hashlib.sha256(where.encode()).hexdigest()[:6]
        results = trials(Path(tmp), code, args.kills, args.seed, tuple(args.frames))
        print(json.dumps({"code": where, "id": digest, "results": results}))


if __name__ == "__main__":
    main()
