"""Label mode against our nearest on axis-aligned grids: the ratio issue 29 asks to keep within 3x.

Cases (every map uint8, the same call with ``"label"`` and with ``"nearest"``, round-robin in one
process so that load from other processes hits both alike):

- ``up`` / ``down``: a 160x160x100 map at 1.5 mm respaced to 0.7 mm (343x343x214) and to 2.5 mm
  (96x96x60), four maps: Voronoi regions (a multi-organ-like segmentation) and blocky regions (random
  classes on 12-voxel blocks: a quarter of the source cells hold two or more classes), each with 2 and
  117 classes;
- ``map back K=117``: a 117-class Voronoi map on a 1.5 mm working grid (the crop of a 384x384x200 CT at
  0.8x0.8x2.0 mm) back onto that CT grid (the export of a prediction).

``--sweep N``: instead, the geometry sweep of ``bench_resample.py --sweep N`` (N random oblique 3-D
geometries and max(2, N // 2) 2-D ones, seed 0) on its 16-class Voronoi maps: label against nearest on
the general path.

For each case and thread count the script prints the medians (wall clock and the process's CPU time:
at one thread the CPU time is the call's own work, far steadier on a loaded machine), ``label /
nearest`` from both, and the load average; at the end the worst ratio per thread count and clock.
``--quick``: every grid about 2x coarser per axis.

Usage: python benchmarks/bench_label.py [--quick] [--repeat N] [--threads 1 2] [--sweep N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F

from _common import load_average, machine_lines, md_table
from monai_spacetx import Space
from monai_spacetx.engine import compiled, warp_image


def voronoi(shape: tuple[int, ...], classes: int, seed: int = 0) -> torch.Tensor:
    """``classes`` regions: each voxel of a grid 8x coarser takes its nearest random seed, then nearest-upsampled."""
    gen = torch.Generator().manual_seed(seed)
    coarse = tuple(max(4, n // 8) for n in shape)
    seeds = torch.rand(classes, len(shape), generator=gen) * torch.tensor(coarse, dtype=torch.float32)
    grid = torch.stack(torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in coarse], indexing="ij"), -1)
    small = torch.cdist(grid.reshape(-1, len(shape)), seeds).argmin(1).to(torch.uint8).reshape(coarse)
    return F.interpolate(small[None, None].float(), size=shape, mode="nearest")[0, 0].to(torch.uint8)


def blocky(shape: tuple[int, ...], classes: int, seed: int = 0) -> torch.Tensor:
    """Random classes on blocks of about 12 voxels per axis."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, classes, tuple(max(2, n // 12) for n in shape), generator=gen, dtype=torch.uint8)
    return F.interpolate(coarse[None, None].float(), size=shape, mode="nearest")[0, 0].to(torch.uint8)


def cases(quick: bool) -> list[tuple[str, Space, Space, torch.Tensor]]:
    q = 2 if quick else 1
    grid = Space((160 // q, 160 // q, 100 // q), spacing=(1.5 * q,) * 3)
    maps = {f"{kind} {k}": make(grid.shape, k) for kind, make in (("Voronoi", voronoi), ("blocky", blocky)) for k in (2, 117)}
    out = []
    for direction, spacing in (("up", 0.7), ("down", 2.5)):
        target = grid.respace(spacing * q)
        out += [(f"{direction} {grid.shape} -> {target.shape}, {name}", grid, target, labels) for name, labels in maps.items()]
    native = Space((384 // q, 384 // q, 200 // q), spacing=(0.8 * q, 0.8 * q, 2.0 * q))
    working = native.crop((64 // q, 64 // q, 20 // q), (320 // q, 320 // q, 180 // q)).respace(1.5 * q)
    out.append((f"map back K=117 {working.shape} -> {native.shape}", working, native, voronoi(working.shape, 117)))
    return out


def sweep_cases(count: int, quick: bool) -> list[tuple[str, Space, Space, torch.Tensor]]:
    """``bench_resample.py``'s sweep geometries (seed 0) with its 16-class Voronoi map per geometry."""
    from bench_resample import sweep_geometries, voronoi_labels

    return [(f"{what.split(' @')[0]} -> {target.shape}", source, target, voronoi_labels(source.shape, 16, seed=index))
            for index, (what, source, target) in enumerate(sweep_geometries(count, 0, quick))]


def round_robin(fns: list[Callable[[], Any]], repeat: int) -> tuple[list[float], list[float]]:
    """Median wall and CPU seconds per callable, the callables interleaved in each round."""
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, w, c in zip(fns, wall, cpu):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            c.append(time.process_time() - start_cpu)
            w.append(time.perf_counter() - start)
    return [statistics.median(t) for t in wall], [statistics.median(t) for t in cpu]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every grid about 2x coarser per axis")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sweep", type=int, default=0, metavar="N", help="bench_resample's geometry sweep instead of the cases")
    args = parser.parse_args()
    print("\n".join(machine_lines()))
    print(f"- compiled kernels loaded in {compiled.warm_up():.2f} s")
    rows: list[list[str]] = []
    worst: dict[tuple[int, str], float] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, source, target, labels in (sweep_cases(args.sweep, args.quick) if args.sweep else cases(args.quick)):
            label = lambda: warp_image(labels, source, target, "label")  # noqa: E731
            nearest = lambda: warp_image(labels, source, target, "nearest")  # noqa: E731
            label(), nearest()
            load = load_average().split(" / ")[0]
            wall, cpu = round_robin([label, nearest], args.repeat)
            ratios = {"wall": wall[0] / wall[1], "cpu": cpu[0] / cpu[1]}
            for clock, ratio in ratios.items():
                worst[(threads, clock)] = max(worst.get((threads, clock), 0.0), ratio)
            rows.append([str(threads), load, name, f"{wall[0] * 1e3:.1f} / {wall[1] * 1e3:.1f}", f"{ratios['wall']:.2f}",
                         f"{cpu[0] * 1e3:.1f} / {cpu[1] * 1e3:.1f}", f"{ratios['cpu']:.2f}"])
            print(" | ".join(rows[-1]), flush=True)
    print()
    print(md_table(["threads", "load", "case", "label / nearest ms (wall)", "ratio (wall)", "label / nearest ms (CPU)", "ratio (CPU)"], rows))
    print()
    print(md_table(["threads", "clock", "worst label / nearest"], [[str(t), c, f"{v:.2f}"] for (t, c), v in sorted(worst.items())]))


if __name__ == "__main__":
    main()
