"""Per-call overhead of ``warp_image`` on a small output: call time against the compiled kernel's own time.

A 64^3 float32 source at 1 mm resampled onto itself rotated 15 deg about two axes (64^3 output, the
general path, compiled kernels), ``nearest`` and ``linear``, at 1 and 2 threads. For each mode the
script times, round-robin in one process (load from other processes hits all alike):

- ``call``: ``warp_image(image, source, target, mode)``, everything a user pays;
- ``kernel``: the compiled kernel alone, run by the engine's runner (``compiled._runtime._run``: numba's
  dispatch included) on the arguments one call built (captured), on the thread count that call decided,
  writing into a newly allocated output as a call does (the last columns: into the same output every
  time, whose memory is then in cache: a lower kernel time);

and prints medians, ``overhead = (call - kernel) / kernel`` (issue 29's goal: at most 0.20), from the
wall clock and from CPU time (at one thread the CPU time is the call's own work, steadier on a loaded
machine). Then where the rest goes: each step of a call timed alone (median of ``--repeat`` x 20
runs), so the steps' sum approximates ``call - kernel``. The load average is printed with each table.

``--free-cpus N`` takes the thread rule's count of free CPUs as ``N`` (its ``/proc`` reads still run, so the
call pays them): on a shared machine the rule may otherwise give the captured call and the timed calls
different thread counts, and their figures would not be comparable.

Usage: python benchmarks/bench_overhead.py [--repeat N] [--threads 1 2] [--size 64] [--free-cpus N]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import Any, Callable

import numpy as np
import torch

from _common import load_average, machine_lines, md_table
from monai_spacetx import Space
from monai_spacetx.engine import compiled, warp_image
from monai_spacetx.engine import warp as warp_module
from monai_spacetx.engine.box import target_box
from monai_spacetx.engine.compiled import _args, _runtime
from monai_spacetx.engine.limits import check_grid
from monai_spacetx.engine.options import WarpOptions
from monai_spacetx.engine.plan import plan_warp
from monai_spacetx.engine import threads as threads_module
from monai_spacetx.engine.threads import engine_threads


def capture_kernel_args(image: torch.Tensor, source: Space, target: Space, mode: str) -> tuple[str, np.ndarray, tuple[Any, ...], int]:
    """The ``(name, out_shape, args)`` one ``warp_image`` call hands to the compiled runner, and the
    thread count the call decided."""
    seen: list[tuple[str, np.ndarray, tuple[Any, ...], int]] = []
    original = compiled._run

    def spy(name: str, out_shape: np.ndarray, *args: Any) -> None:
        seen.append((name, out_shape, args, threads_module.call_threads()))
        original(name, out_shape, *args)

    compiled._run = spy  # type: ignore[attr-defined]
    try:
        warp_image(image, source, target, mode)
    finally:
        compiled._run = original  # type: ignore[attr-defined]
    if len(seen) != 1:
        raise SystemExit(f"expected one compiled kernel run for {mode}, saw {len(seen)} (kernels off?)")
    return seen[0]


def round_robin(fns: list[Callable[[], Any]], repeat: int, inner: int) -> tuple[list[float], list[float]]:
    """Median wall and CPU seconds per call of each callable (``inner`` calls per sample, interleaved)."""
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, w, c in zip(fns, wall, cpu):
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(inner):
                fn()
            c.append((time.process_time() - start_cpu) / inner)
            w.append((time.perf_counter() - start) / inner)
    return [statistics.median(t) for t in wall], [statistics.median(t) for t in cpu]


def steps(image: torch.Tensor, source: Space, target: Space, mode: str) -> list[tuple[str, Callable[[], Any]]]:
    """A call's steps, each alone (what ``warp_image`` and the compiled front run before the kernel)."""
    options = WarpOptions.parse(mode)
    plan = plan_warp(source, target)
    img = image.reshape(-1, *source.shape)
    box = target_box(plan, options)
    assert box is not None
    dest = torch.empty((1, *target.shape))[(slice(None), *box)]
    bits = _args._BITS[4] if mode == "nearest" else None
    spans = [_args._layout(t.shape, t.stride())[1] for t in (img, dest)]

    def threads() -> None:
        with engine_threads(img.device):
            pass

    return [
        ("WarpOptions.parse", lambda: WarpOptions.parse(mode)),
        ("plan_warp", lambda: plan_warp(source, target)),
        ("warp._plan_for (the plan cache)", lambda: warp_module._plan_for(source, target)) if hasattr(warp_module, "_plan_for") else ("", lambda: None),
        ("check_grid", lambda: check_grid(target.shape, what="target", channels=1, device=img.device, itemsize=4)),
        ("engine_threads enter + exit", threads),
        ("dataclasses.replace(options)", lambda: dataclasses.replace(options, mode="nearest")),
        ("target_box", lambda: target_box(plan, options)),
        ("torch.empty output", lambda: torch.empty((1, *target.shape))),
        ("_args._general_args (recent: kept)", lambda: _args._general_args(img, dest, plan.matrix, plan, box, options, bits)),
        ("_args._flat x 2", lambda: (_args._flat(img, spans[0], bits), _args._flat(dest, spans[1], bits))),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--size", type=int, default=64, help="the output's side (voxels)")
    parser.add_argument("--free-cpus", type=int, default=None, help="take the thread rule's count of free CPUs as this")
    args = parser.parse_args()
    if args.free_cpus is not None:
        counted = threads_module.free_cpus
        threads_module.free_cpus = lambda: (counted(), args.free_cpus)[1]  # type: ignore[assignment]
        print(f"- the thread rule's count of free CPUs taken as {args.free_cpus} (its reads still run)")
    print("\n".join(machine_lines()))
    print(f"- compiled kernels loaded in {compiled.warm_up():.2f} s")
    n = args.size
    source = Space((n, n, n), spacing=1.0)
    target = source.rotate([np.deg2rad(15.0), np.deg2rad(15.0), 0.0])
    image = torch.rand(source.shape, generator=torch.Generator().manual_seed(0))
    print(f"- {source.shape} float32 -> the same grid rotated 15 deg about two axes ({target.shape}, general path)")
    rows: list[list[str]] = []
    step_rows: list[list[str]] = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for mode in ("nearest", "linear"):
            name, out_shape, kargs, used = capture_kernel_args(image, source, target, mode)
            call = lambda mode=mode: warp_image(image, source, target, mode)  # noqa: E731

            def kernel(name: str = name, out_shape: np.ndarray = out_shape, kargs: tuple[Any, ...] = kargs, used: int = used,
                       fresh: bool = False) -> None:
                args = list(kargs)
                if fresh:  # into a new output, as a call writes (the last one's memory is not in cache)
                    args[3] = _args._storage(torch.empty((1, *target.shape)), _args._BITS[4] if name == "nearest" else None)[0]
                threads_module._local.threads = used  # the count the call ran on (not decided again)
                try:
                    _runtime._run(name, out_shape, *args)
                finally:
                    threads_module._local.threads = None

            fresh = lambda kernel=kernel: kernel(fresh=True)  # noqa: E731
            for fn in (call, kernel, fresh, call, kernel, fresh):  # warm-up
                fn()
            load = load_average().split(" / ")[0]
            wall, cpu = round_robin([call, kernel, fresh], args.repeat, 5)
            rows.append([str(threads), str(used), load, mode, f"{wall[0] * 1e3:.3f}", f"{wall[2] * 1e3:.3f}",
                         f"{(wall[0] - wall[2]) / wall[2]:.2f}", f"{cpu[0] * 1e3:.3f}", f"{cpu[2] * 1e3:.3f}",
                         f"{(cpu[0] - cpu[2]) / cpu[2]:.2f}", f"{cpu[1] * 1e3:.3f}", f"{(cpu[0] - cpu[1]) / cpu[1]:.2f}"])
            print(" | ".join(rows[-1]), flush=True)
        named = [(label, fn) for label, fn in steps(image, source, target, "nearest") if label]
        for fn in [fn for _, fn in named] * 3:
            fn()
        wall, _ = round_robin([fn for _, fn in named], args.repeat, 20)
        load = load_average().split(" / ")[0]
        for (label, _), seconds in zip(named, wall):
            step_rows.append([str(threads), load, label, f"{seconds * 1e6:.1f}"])
    print()
    print(md_table(["torch threads", "call's threads", "load", "mode", "call ms (wall)", "kernel ms (wall)", "overhead (wall)",
                    "call ms (CPU)", "kernel ms (CPU)", "overhead (CPU)", "kernel, same output, ms (CPU)", "overhead vs it (CPU)"], rows))
    print()
    print(md_table(["threads", "load", "step (alone; nearest)", "us per call"], step_rows))


if __name__ == "__main__":
    main()
