"""Crops per second of the embedders on CPU, on real photographs.

Data: ``../shared/data/real/cartucho-map`` (85 indoor photos, 640 x 480, 686 labelled
boxes). Each backend embeds every frame and every label crop through the same path
``ingest`` uses (``embed_coco``: decode, square crops with context, batches, model).
Peers measured in the same run: the built-in embedder, and for each model the bare
forward pass on ready-made batches (what the model alone costs).

Models have random weights (throughput does not depend on them): timm ``resnet18`` and
``vit_tiny_patch16_224`` on torch, and the same resnet18 exported to ONNX and run by
ONNX Runtime. Needs the ``[torch]`` and ``[onnx]`` extras (and ``onnx`` for the export).

    python benchmarks/bench_embedders.py [--images 85] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

REAL = Path(os.environ.get("AQUAEMBED_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real"))


def _subset(n_images: int) -> tuple[Path, dict]:
    base = REAL / "cartucho-map"
    gt = json.loads((base / "coco" / "gt.json").read_text())
    images = gt["images"][:n_images]
    keep = {im["id"] for im in images}
    return base / "images", {"images": images, "annotations": [a for a in gt["annotations"] if a["image_id"] in keep]}


_CPU: dict[str, float] = {}


def _time(fn, repeat: int = 2) -> float:
    """Best wall clock of ``repeat`` calls; the CPU seconds of that call go to ``_CPU["last"]``."""
    best = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, _CPU["last"] = wall, time.process_time() - c0
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=85)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    import timm
    import torch

    from aquaembed.embeddings.builtin import embed_coco
    from aquaembed.embeddings.pretrained import load_embedder

    root, gt = _subset(args.images)
    n_frames, n_crops = len(gt["images"]), len(gt["annotations"])
    print(f"cartucho-map: {n_frames} frames, {n_crops} label crops; torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}")
    rows = []
    t = _time(lambda: embed_coco(root, gt, workers=2))
    rows.append(("builtin (hand-made features, 2 processes; CPU time of this process only)", "—", t, None, _CPU["last"]))
    with tempfile.TemporaryDirectory() as tmp:
        specs = []
        for arch in ("resnet18", "vit_tiny_patch16_224"):
            model = timm.create_model(arch, pretrained=False, num_classes=0).eval()
            path = Path(tmp) / f"{arch}.pth"
            torch.save(model.state_dict(), path)
            specs.append((f"timm:{arch}", f"timm:{arch}@{path}", model))
        onnx_path = Path(tmp) / "resnet18.onnx"
        x = torch.zeros(1, 3, 224, 224)
        torch.onnx.export(specs[0][2], (x,), str(onnx_path), input_names=["pixels"], output_names=["embedding"],
                          dynamic_axes={"pixels": {0: "n"}, "embedding": {0: "n"}}, dynamo=False)
        specs.append(("onnx:resnet18 (ONNX Runtime)", f"onnx:{onnx_path}?size=224", None))
        for label, spec, _ in specs:
            emb = load_embedder(spec)
            emb.embed_coco(root, {"images": gt["images"][:2], "annotations": []})  # warm-up
            t = _time(lambda emb=emb: emb.embed_coco(root, gt, batch_size=args.batch))
            cpu = _CPU["last"]
            batch = np.random.default_rng(0).normal(size=(args.batch, 3, emb.prep.size, emb.prep.size)).astype(np.float32)
            emb.forward(batch)
            n_fw = max(1, (n_frames + n_crops) // args.batch)
            fw = _time(lambda emb=emb, batch=batch, n_fw=n_fw: [emb.forward(batch) for _ in range(n_fw)], repeat=1)
            fw /= n_fw * args.batch
            rows.append((label, f"{emb.prep.size}px, dim {emb.dim}", t, fw, cpu))
    base = rows[0][2]
    print()
    print("| embedder | input | frames + crops | wall clock | CPU s | frames+crops per s | per CPU-s | model alone (crops/s) | vs builtin |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, inp, t, fw, cpu in rows:
        alone = f"{1.0 / fw:,.0f}" if fw else "—"
        ratio = f"{t / base:.1f}× slower" if t > base else "1.0×"
        n = n_frames + n_crops
        print(f"| {label} | {inp} | {n_frames} + {n_crops} | {t:.2f} s | {cpu:.1f} | {n / t:,.1f} | {n / cpu:,.1f} | {alone} | {ratio} |")

if __name__ == "__main__":
    main()
