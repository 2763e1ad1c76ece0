"""Exact nearest map-back through a chain that resampled a label twice: time and memory beyond the output.

A uint8 label on a CT-like native grid goes ``SpaceResampled(nearest) → RandAffined(nearest, rotated)``
eagerly (two resamples), then back with ``SpaceInvertd(mode="nearest")``: the map-back
composes the two recorded steps' nearest maps (``transforms/chain.py``), rotated, so it takes the
per-voxel path (``engine.compose_nearest_gather``). The axis-aligned case (no rotation) is printed
beside it. The map-back runs in a fresh process that only loads the forward sample; "beyond" is
its peak RSS growth during the map-back minus the native output, per native voxel.

    python benchmarks/bench_mapback.py            # 256 x 256 x 200 native
    python benchmarks/bench_mapback.py --full     # 512 x 512 x 400 native
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def _forward(shape: tuple[int, int, int], rotated: bool, path: str) -> None:
    """Run the eager chain and save the sample (a separate process, so the map-back's peak is its own)."""
    import warnings

    import numpy as np
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Compose, RandAffined

    from monai_spacetx import SpaceResampled

    warnings.simplefilter("ignore")
    affine = np.diag([0.8, 0.8, 1.0, 1.0])
    label = MetaTensor((torch.rand(1, *shape, generator=torch.Generator().manual_seed(0)) > 0.5).to(torch.uint8), affine=torch.as_tensor(affine))
    label.meta["original_affine"], label.meta["spatial_shape"] = torch.as_tensor(affine), np.array(shape)
    turn = (0.2, 0.1, 0.1) if rotated else 0.0
    chain = Compose(
        [
            SpaceResampled("label", pixdim=(0.7, 0.7, 0.9), mode="nearest"),
            # finer again: 0.68-0.7 of a voxel per output voxel, so the rotated step still maps back exactly
            RandAffined("label", prob=1.0, rotate_range=turn, scale_range=((-0.32, -0.3),) * 3, spatial_size=[int(n * 1.1) for n in shape], mode="nearest"),
        ]
    )
    chain.set_random_state(0)
    torch.save({"forward": chain({"label": label}), "label": label}, path)


def _case(path: str) -> dict[str, float]:
    import warnings

    import numpy as np
    import torch

    from monai_spacetx import SpaceInvertd

    warnings.simplefilter("ignore")
    saved = torch.load(path, weights_only=False)
    forward, label = saved["forward"], saved["label"]
    invert = SpaceInvertd("label", mode="nearest", fill=255)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    back = invert(forward)["label"]
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    native = int(np.prod(label.shape))
    reached = back.as_tensor() != 255
    wrong = int((back.as_tensor()[reached] != label.as_tensor()[reached].to(back.dtype)).sum())
    beyond = max(0, peak - before - back.numel() * back.element_size()) / native
    return {"seconds": seconds, "beyond": beyond, "wrong": wrong, "reached": float(reached.float().mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="512 x 512 x 400 native grid")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--forward", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = (512, 512, 400) if args.full else (256, 256, 200)
    if args.forward:
        _forward(shape, args.case == "rotated", args.forward)
        return
    if args.case:
        print(json.dumps(_case(args.case)))
        return
    print(f"load average {os.getloadavg()[0]:.2f}, native {shape}, uint8 label, SpaceInvertd(mode='nearest') through 2 eager resamples")
    with tempfile.TemporaryDirectory() as folder:
        for case in ("axis-aligned", "rotated"):
            path = os.path.join(folder, f"{case}.pt")
            full = ["--full"] if args.full else []
            subprocess.run([sys.executable, __file__, "--case", case, "--forward", path, *full], check=True)
            out = subprocess.run([sys.executable, __file__, "--case", path, *full], check=True, capture_output=True, text=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  {case:13s} {result['seconds']:7.2f} s   {result['beyond']:5.1f} bytes/native voxel beyond the output   "
                f"{result['wrong']} wrong of the {100 * result['reached']:.0f}% of native voxels the working grid reaches"
            )


if __name__ == "__main__":
    main()
