"""Training throughput where MONAI users run transforms: inside DataLoader workers, on busy cores.

A training-style pipeline on the benchmark's oblique CT-like case (256x256x120 int16 + uint8
label, NIfTI on disk, read by ``LoadImaged`` in every sample):

- ours:  ``LoadImaged -> SpaceCropd(roi) -> SpaceResampled(pixdim 1.5 mm, bilinear/nearest)
  -> RandSpatialCropd(96^3)``
- MONAI: ``LoadImaged -> SpatialCropd(roi) -> Spacingd(pixdim 1.5 mm, bilinear/nearest)
  -> RandSpatialCropd(96^3)``

Each is iterated through ``DataLoader(num_workers=2)`` (PyTorch runs each worker on one torch
thread: the 2 workers and the main process share the 2 cores), and in the main process
(``num_workers=0``) at 1 and 2 torch threads. Samples per second are medians over
``--repeats`` epochs after a warm-up epoch; "ratio" is ours / MONAI (higher is better for ours).

Run: ``python benchmarks/bench_dataloader.py [--quick] [--repeats N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _common import load_average, machine_lines, md_table, setup_torch, write_case

ROI_START, ROI_END = (32, 32, 10), (224, 224, 110)  # the body's box on the full grid
PATCH = (96, 96, 96)


def pipelines(quick: bool) -> dict[str, Any]:
    from monai.transforms import Compose, LoadImaged, RandSpatialCropd, Spacingd, SpatialCropd

    from monai_spacetx import SpaceCropd, SpaceResampled

    keys = ["image", "label"]
    q = 4 if quick else 1
    start, end = tuple(s // q for s in ROI_START), tuple(e // q for e in ROI_END)
    patch = tuple(p // q for p in PATCH)
    pixdim = (1.5 * q,) * 3
    load = LoadImaged(keys, ensure_channel_first=True, image_only=True)
    return {
        "monai-spacetx": Compose([
            load,
            SpaceCropd(keys, roi_start=start, roi_end=end),
            SpaceResampled(keys, pixdim=pixdim, mode=("bilinear", "nearest")),
            RandSpatialCropd(keys, roi_size=patch, random_size=False),
        ]),
        "MONAI": Compose([
            load,
            SpatialCropd(keys, roi_start=start, roi_end=end),
            Spacingd(keys, pixdim=pixdim, mode=("bilinear", "nearest")),
            RandSpatialCropd(keys, roi_size=patch, random_size=False),
        ]),
    }


def samples_per_second(dataset: Any, workers: int, repeats: int) -> float:
    from monai.data import DataLoader

    loader = DataLoader(dataset, batch_size=1, num_workers=workers, persistent_workers=workers > 0)
    for _ in loader:  # warm-up: worker start, imports, allocator
        pass
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        count = sum(batch["image"].shape[0] for batch in loader)
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def main(quick: bool = False, repeats: int = 3) -> list[list[str]]:
    torch = setup_torch()
    from monai.data import Dataset

    case = write_case(quick)
    files = [{"image": case["image"], "label": case["label"]} for _ in range(8)]
    print("\n".join(machine_lines()))
    print(f"- case: {case['shape']} int16 + uint8 label, 8 samples per epoch, median of {repeats} epochs\n")
    rows = []
    for workers, threads in ((2, 1), (0, 1), (0, 2)):
        torch.set_num_threads(threads)
        rates = {name: samples_per_second(Dataset(files, chain), workers, repeats) for name, chain in pipelines(quick).items()}
        where = f"DataLoader(num_workers={workers})" if workers else f"main process, {threads} torch thread(s)"
        rows.append([where, load_average().split(" / ")[0], f"{rates['monai-spacetx']:.2f}", f"{rates['MONAI']:.2f}",
                     f"{rates['monai-spacetx'] / rates['MONAI']:.2f}x"])
    print(md_table(["where", "load", "monai-spacetx samples/s", "MONAI samples/s", "ratio"], rows))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 4x coarser grid per axis")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    main(args.quick, args.repeats)
