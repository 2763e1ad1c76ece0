"""Crop + respace forward, and map-back of a probability map, side by side with the peers.

Task (a): a 384x384x200 float32 volume at 0.8x0.8x2.0 mm, cropped to the index box
[64:320, 64:320, 20:180] and resampled to 1.5 mm isotropic (linear).
Task (b): a 3-channel float32 probability map on that working grid mapped back onto the
native 384x384x200 grid (linear, zero fill outside the box).

Peers: monai_spacetx.warp_image; MONAI SpatialCropd + Spacingd for (a) and Invertd for (b);
SimpleITK Resample (one call straight onto the target grid, inputs converted up front);
spacetransformer-torch warp_image (CPU); and the floor for (b): allocate and fill the
native-size output (torch.full). Peers that are not installed are reported as skipped.

Everything runs on the same 2 CPU threads (torch and SimpleITK). Times are medians of
``--repeat`` calls after one warm-up call, timed round-robin across peers (so that load
from other processes hits all alike); "ratio" is time / monai_spacetx time. Memory is the
peak resident set size during one call above the resident size just before it (Linux
VmHWM, reset through /proc/self/clear_refs), output included; memory the process had
already mapped and reuses (e.g. SimpleITK's pools) does not show.

Usage: python benchmarks/bench_resample.py [--quick] [--repeat N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any, Callable, Optional

import numpy as np
import torch

from monai_spacetx import Space
from monai_spacetx.engine import warp_image

THREADS = 2


def _rss_mib(field: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_mib(fn: Callable[[], Any], sync: Callable[[], None]) -> Optional[float]:
    """Peak resident MiB during one call above the resident size before it (output included)."""
    gc.collect()
    before = _rss_mib("VmRSS")
    if before is None or not _reset_peak():
        return None
    result = fn()
    sync()
    del result
    peak = _rss_mib("VmHWM")
    return None if peak is None else max(0.0, peak - before)


def time_round_robin(fns: list[Callable[[], Any]], repeat: int, sync: Callable[[], None]) -> list[float]:
    """Median seconds per callable, timed in interleaved rounds so that load from other
    processes on a shared machine hits every peer alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, bucket in zip(fns, times):
            sync()
            start = time.perf_counter()
            result = fn()
            sync()
            bucket.append(time.perf_counter() - start)
            del result
    return [statistics.median(t) for t in times]


def _st_space(space: Space) -> Any:
    from spacetransformer.core import Space as StSpace

    d = space.direction
    return StSpace(
        shape=tuple(space.shape),
        origin=tuple(space.origin),
        spacing=tuple(space.spacing),
        x_orientation=tuple(d[:, 0]),
        y_orientation=tuple(d[:, 1]),
        z_orientation=tuple(d[:, 2]),
    )


def _sitk_resampler(sitk: Any, target: Space) -> Callable[[Any], Any]:
    from monai_spacetx.interop import lps_ras_flip

    lps = lps_ras_flip(3) @ target.affine
    size = [int(n) for n in target.shape]
    origin = [float(v) for v in lps[:3, 3]]
    spacing = [float(v) for v in target.spacing]
    direction = [float(v) for v in (lps[:3, :3] / target.spacing).ravel()]

    def run(img: Any) -> Any:
        return sitk.Resample(img, size, sitk.Transform(), sitk.sitkLinear, origin, spacing, direction, 0.0)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="192x192x100 instead of 384x384x200")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    q = 2 if args.quick else 1
    native = Space((384 // q, 384 // q, 200 // q), spacing=(0.8, 0.8, 2.0))
    start, end = (64 // q, 64 // q, 20 // q), (320 // q, 320 // q, 180 // q)
    working = native.crop(start, end).respace(1.5)
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(native.shape, generator=gen).to(device)
    prob = torch.rand((3, *working.shape), generator=gen).to(device)
    print(f"native {native.shape} @ {native.spacing.tolist()} mm, box {list(start)}:{list(end)}, "
          f"working {working.shape} @ 1.5 mm; {THREADS} threads, device {device}, median of {args.repeat}\n")

    rows: list[tuple[str, str, Optional[float], Optional[float], str]] = []

    peers: list[tuple[str, str, Callable[[], Any], Optional[float], str]] = []

    def add(task: str, name: str, fn: Optional[Callable[[], Any]], note: str = "") -> None:
        if fn is None:
            rows.append((task, name, None, None, note or "skipped (not installed)"))
            return
        fn()  # warm-up (lazy imports, allocator, thread pools)
        peers.append((task, name, fn, peak_mib(fn, sync), note))

    # ---------------------------------------------------------------- monai_spacetx
    add("a", "monai_spacetx", lambda: warp_image(image, native, working, "linear"))
    add("b", "monai_spacetx", lambda: warp_image(prob, working, native, "linear"))
    add("b", "alloc+fill (floor)", lambda: torch.full((3, *native.shape), 0.0, device=device))

    # ---------------------------------------------------------------- MONAI
    try:
        from monai.data import MetaTensor
        from monai.transforms import Compose, Invertd, SpacingD, SpatialCropd
    except ImportError:
        add("a", "MONAI SpatialCropd+Spacingd", None)
        add("b", "MONAI Invertd", None)
    else:
        affine = torch.as_tensor(native.to_monai_affine())
        pipeline = Compose([
            SpatialCropd("img", roi_start=start, roi_end=end),
            SpacingD("img", pixdim=(1.5, 1.5, 1.5), mode="bilinear"),
        ])
        data = {"img": MetaTensor(image[None], affine=affine)}
        add("a", "MONAI SpatialCropd+Spacingd", lambda: pipeline(dict(data)))
        forwarded = pipeline(dict(data))
        fwd_img = forwarded["img"]
        pred = MetaTensor(torch.rand((3, *fwd_img.shape[1:]), generator=gen).to(device), affine=fwd_img.affine)
        pred.applied_operations = list(fwd_img.applied_operations)
        inverter = Invertd("pred", transform=pipeline, orig_keys="img", nearest_interp=False)
        note = f"working grid {tuple(fwd_img.shape[1:])} (MONAI's own rounding)"
        add("b", "MONAI Invertd", lambda: inverter({"img": fwd_img, "pred": pred}), note)

    # ---------------------------------------------------------------- SimpleITK
    try:
        import SimpleITK as sitk
    except ImportError:
        add("a", "SimpleITK Resample", None)
        add("b", "SimpleITK Resample", None)
    else:
        from monai_spacetx.interop import to_sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(THREADS)
        src = to_sitk(image.cpu().numpy(), native)
        add("a", "SimpleITK Resample", lambda: _sitk_resampler(sitk, working)(src))
        vec = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(prob.cpu().numpy(), (3, 2, 1, 0))), isVector=True)
        ref = to_sitk(np.zeros(working.shape, np.float32), working)
        vec.CopyInformation(ref)
        add("b", "SimpleITK Resample", lambda: _sitk_resampler(sitk, native)(vec), "3-component vector image")

    # ---------------------------------------------------------------- spacetransformer-torch
    try:
        from spacetransformer.torch import warp_image as st_warp
    except ImportError:
        add("a", "spacetransformer-torch", None)
        add("b", "spacetransformer-torch", None)
    else:
        st_native, st_working = _st_space(native), _st_space(working)
        dev = str(device)
        add("a", "spacetransformer-torch", lambda: st_warp(image, st_native, st_working, 0.0, "trilinear", cuda_device=dev))
        add("b", "spacetransformer-torch", lambda: st_warp(prob, st_working, st_native, 0.0, "trilinear", cuda_device=dev))

    medians = time_round_robin([p[2] for p in peers], args.repeat, sync)
    rows += [(task, name, sec, mib, note) for (task, name, _, mib, note), sec in zip(peers, medians)]

    # ---------------------------------------------------------------- table
    ours = {task: s for task, name, s, _, _ in rows if name == "monai_spacetx"}
    print(f"| task | peer | median ms | ratio to monai_spacetx | peak MiB | note |")
    print("|---|---|---|---|---|---|")
    for task, name, seconds, mib, note in sorted(rows, key=lambda r: (r[0], r[2] is None, r[2] or 0.0)):
        label = {"a": "(a) crop+respace", "b": "(b) map back"}[task]
        if seconds is None:
            print(f"| {label} | {name} | - | - | - | {note} |")
            continue
        mem = "n/a" if mib is None else f"{mib:.0f}"
        print(f"| {label} | {name} | {seconds * 1e3:.1f} | {seconds / ours[task]:.2f}x | {mem} | {note} |")


if __name__ == "__main__":
    main()
