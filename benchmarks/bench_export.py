"""Exporting a K-class prediction to the scan: probabilities/logits back to the native grid, then argmax.

The case: K-channel logits on a 1.5 mm working grid that covers a 0.8 x 0.8 x 1.0 mm native CT grid
of 512 x 512 x 400 (``--quick``: 128 x 128 x 100, the same spacings), mapped back to the native
grid with linear interpolation and turned into a label map. K = 14 (an abdominal organ model) and
K = 117 (TotalSegmentator). The logits are smooth random fields (one per class, trilinear from a
control grid with a node every 50 mm, class 0 biased to be the background of about half the
volume), float32. The working grid keeps the native field of view exactly (1.5 mm within 0.3%).

Methods, each in its own child process (so that its peak memory is its own):

- ``ours argmax``: ``warp_argmax`` (what ``SpaceInvertd(..., argmax=True)`` runs).
- ``ours all, then argmax``: ``warp_image(..., "linear")`` of all K channels, then ``argmax``.
- ``MONAI Invertd+AsDiscreted``: the logits carry the record of a ``Resized(mode="trilinear")``
  from the native grid; ``Invertd(nearest_interp=False)`` then ``AsDiscreted(argmax=True)``.
- ``nnU-Net resample+argmax``: ``nnunetv2``'s ``resample_data_or_seg_to_shape`` with the
  settings nnU-Net exports probabilities with (``is_seg=False, order=1, order_z=0,
  force_separate_z=None``), then ``argmax`` (nnU-Net also applies a softmax first; not timed
  here, in its favour).
- ``label on argmax first``: ``argmax`` on the working grid, then ours ``mode="label"``
  (what Slicer's MONAI Auto3DSeg does to fit in memory): timed as a whole, and the map-back
  alone (``label map-back only``).

Time: median of ``--repeats`` calls after one untimed call (numba loads its cached kernels on a
process's first call, about 0.4 s; the slow peers run once at full size, without it). Peak memory:
the child resets its resident high-water mark (``/proc/self/clear_refs``) after that call and
reports ``VmHWM`` minus the resident size before the calls, minus the native label map
(``extra``), so ``extra`` is the memory beyond the logits and the label map; ``ru_maxrss`` of the
child (whole life, input generation included) is printed too. A method whose ``K x native``
float32 channels would not fit in the available memory is not run and is reported with the
memory it would need. Each child's label map is compared with ``ours argmax``'s (voxels that
differ).

Usage: python benchmarks/bench_export.py [--quick | --native N N N] [--classes 14 117] [--methods ...]
       [--repeats N] [--threads 2] [--markdown PATH]

nnU-Net's peer needs ``nnunetv2`` (not in the ``bench`` extra: with the registry's torchvision build,
which does not load with torch 2.13.0+cpu, nnU-Net's import fails; ``pip install nnunetv2`` then
``pip uninstall torchvision`` works, its resampling does not need torchvision). Without it the row
says why it did not run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from _common import load_average, machine_lines, md_table, median, setup_torch

FULL_NATIVE = (512, 512, 400)
QUICK_NATIVE = (128, 128, 100)
NATIVE_SPACING = (0.8, 0.8, 1.0)
WORKING_SPACING = 1.5
METHODS = (
    "ours argmax",
    "ours all, then argmax",
    "MONAI Invertd+AsDiscreted",
    "nnU-Net resample+argmax",
    "label on argmax first",
)
#: Methods that hold all K channels at native resolution (float32) at once.
DENSE = ("ours all, then argmax", "MONAI Invertd+AsDiscreted", "nnU-Net resample+argmax")
#: Methods that run once at full size (minutes each).
SLOW = ("ours all, then argmax", "MONAI Invertd+AsDiscreted", "nnU-Net resample+argmax")


def spaces(quick: bool, shape: Optional[tuple[int, ...]] = None) -> tuple[Any, Any]:
    from monai_spacetx import Space

    native = Space(shape or (QUICK_NATIVE if quick else FULL_NATIVE), spacing=NATIVE_SPACING)
    # the field of view kept exactly (spacing within 0.3% of 1.5 mm), so that the peers' plain
    # shape-to-shape resizes describe the same geometry as ours
    shape = tuple(max(1, round(n * s / WORKING_SPACING)) for n, s in zip(native.shape, NATIVE_SPACING))
    return native, native.resize(shape)


def make_logits(num_classes: int, shape: tuple[int, ...], seed: int = 0, control_mm: float = 50.0) -> Any:
    """``(K, *shape)`` float32 smooth random logits, generated a few channels at a time (low peak).

    One random value per class every ``control_mm`` (at the working spacing), so that the
    regions have the same size in mm at every grid size.
    """
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)
    control_shape = [max(2, round(n * WORKING_SPACING / control_mm)) for n in shape]
    control = torch.randn((num_classes, *control_shape), generator=gen) * 4.0
    if num_classes > 1:  # background (class 0) wins at about half the nodes: the median of the others' maximum
        control[0] += 4.0 * float(torch.special.ndtri(torch.tensor(0.5 ** (1.0 / (num_classes - 1)), dtype=torch.float64)))
    out = torch.empty((num_classes, *shape), dtype=torch.float32)
    for c0 in range(0, num_classes, 2):
        part = control[c0 : c0 + 2].unsqueeze(0)
        out[c0 : c0 + 2] = F.interpolate(part, size=shape, mode="trilinear", align_corners=False)[0]
    return out


# ----------------------------------------------------------------------------- in the child
def _status_bytes(field: str) -> Optional[int]:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _trim() -> None:
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def build(method: str, num_classes: int, quick: bool, shape: Optional[tuple[int, ...]] = None) -> tuple[Callable[[], Any], Optional[Callable[[], Any]]]:
    """The method's timed call (returns the label map as numpy) and, for label-first, the map-back alone."""
    import torch

    from monai_spacetx.engine import warp_image
    from monai_spacetx.engine.export import warp_argmax
    from monai_spacetx.engine.options import WarpOptions

    native, working = spaces(quick, shape)
    logits = make_logits(num_classes, working.shape)
    linear = WarpOptions.parse("linear")
    if method == "ours argmax":
        return (lambda: warp_argmax(logits, working, native, linear)[0].numpy()), None
    if method == "ours all, then argmax":
        return (lambda: warp_image(logits, working, native, options=linear).argmax(0, keepdim=True).to(torch.uint8).numpy()), None
    if method == "label on argmax first":
        first = logits.max(0, keepdim=True).indices.to(torch.uint8)
        label = WarpOptions.parse("label")

        def whole() -> Any:
            hard = logits.max(0, keepdim=True).indices.to(torch.uint8)
            return warp_image(hard, working, native, options=label).numpy()

        return whole, (lambda: warp_image(first, working, native, options=label).numpy())
    if method == "MONAI Invertd+AsDiscreted":
        from monai.data import MetaTensor
        from monai.transforms import AsDiscreted, Invertd, Resized

        image = MetaTensor(torch.zeros((1, *native.shape), dtype=torch.float32), affine=torch.as_tensor(native.to_monai_affine()))
        pre = Resized(keys="image", spatial_size=working.shape, mode="trilinear")
        data = pre({"image": image})
        del image
        pred = MetaTensor(logits, affine=data["image"].affine)
        invert = Invertd(keys="pred", transform=pre, orig_keys="image", nearest_interp=False)
        discrete = AsDiscreted(keys="pred", argmax=True)

        def monai_call() -> Any:
            out = discrete(invert({"image": data["image"], "pred": pred}))["pred"]
            return out.as_tensor().to(torch.uint8).numpy()

        return monai_call, None
    if method == "nnU-Net resample+argmax":
        from nnunetv2.preprocessing.resampling.default_resampling import resample_data_or_seg_to_shape

        array = logits.numpy()

        def nnunet_call() -> Any:
            probs = resample_data_or_seg_to_shape(
                array, native.shape, [WORKING_SPACING] * 3, list(NATIVE_SPACING),
                is_seg=False, order=1, order_z=0, force_separate_z=None,
            )
            return probs.argmax(0)[None].astype(np.uint8)

        return nnunet_call, None
    raise SystemExit(f"unknown method {method!r}")


def child(method: str, num_classes: int, quick: bool, repeats: int, out_path: str, shape: Optional[tuple[int, ...]]) -> None:
    torch = setup_torch()
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    call, alone = build(method, num_classes, quick, shape)
    if repeats > 1:  # one untimed call: numba loads its cached kernels once per process (about 0.4 s)
        call()
        if alone is not None:
            alone()
    _trim()
    before = _status_bytes("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the input's generation is not counted
        reset = True
    except OSError:
        reset = False
    times, labels = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        labels = call()
        times.append(time.perf_counter() - t0)
    peak = _status_bytes("VmHWM")
    alone_times = []
    if alone is not None:
        for _ in range(repeats):
            t0 = time.perf_counter()
            alone()
            alone_times.append(time.perf_counter() - t0)
    assert labels is not None
    np.save(out_path, labels)
    result = {
        "times": times,
        "alone": alone_times,
        "extra": (peak - before - labels.nbytes) if (reset and peak and before) else None,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- the parent
def available_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def run_child(
    method: str, num_classes: int, quick: bool, repeats: int, threads: int, folder: str, shape: Optional[tuple[int, ...]]
) -> dict[str, Any]:
    out_path = os.path.join(folder, f"{method.replace(' ', '_').replace(',', '')}_{num_classes}.npy")
    env = dict(os.environ, BENCH_THREADS=str(threads))
    args = [sys.executable, __file__, "--child", method, "--classes", str(num_classes), "--repeats", str(repeats)]
    args += (["--quick"] if quick else []) + (["--native", *map(str, shape)] if shape else [])
    proc = subprocess.run(args + ["--out", out_path], capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"status": f"failed: {tail[:120]}"}
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["status"], result["labels"] = "ok", out_path
    return result


def main(argv: Optional[list[str]] = None) -> dict[int, dict[str, dict[str, Any]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"native grid {QUICK_NATIVE} instead of {FULL_NATIVE}")
    parser.add_argument("--native", type=int, nargs=3, default=None, metavar="N", help="another native grid shape (spacings unchanged)")
    parser.add_argument("--classes", type=int, nargs="+", default=[14, 117])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shape = tuple(args.native) if args.native else None
    if args.child:
        child(args.child, args.classes[0], args.quick, args.repeats, args.out, shape)
        return {}
    native, working = spaces(args.quick, shape)
    lines = [f"# Export: K-class logits {working.shape} at {WORKING_SPACING} mm -> labels on {native.shape} at {NATIVE_SPACING} mm"]
    setup_torch()
    lines += machine_lines() + [f"- threads per child: {args.threads}; date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]
    for line in lines:
        print(line, flush=True)
    results: dict[int, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for num_classes in args.classes:
            logits_bytes = num_classes * int(np.prod(working.shape)) * 4
            labels_bytes = int(np.prod(native.shape))  # uint8
            dense_bytes = num_classes * int(np.prod(native.shape)) * 4
            rows: dict[str, dict[str, Any]] = {}
            for method in args.methods:
                need = logits_bytes + (dense_bytes if method in DENSE else 0)
                if need > 0.8 * available_bytes():
                    rows[method] = {"status": f"not run: needs about {need / 2**30:.0f} GiB, {available_bytes() / 2**30:.0f} GiB available"}
                else:
                    repeats = 1 if (method in SLOW and not args.quick) else args.repeats
                    rows[method] = run_child(method, num_classes, args.quick, repeats, args.threads, folder, shape)
                print(f"  K={num_classes} {method}: {rows[method].get('status')} load {load_average()}", flush=True)
            results[num_classes] = rows
            reference = rows.get("ours argmax", {})
            ref_labels = np.load(reference["labels"]) if reference.get("status") == "ok" else None
            for row in rows.values():
                if row.get("status") == "ok" and ref_labels is not None:
                    row["differ"] = int((np.load(row["labels"]) != ref_labels).sum())
            table = []
            ours_t = median(reference["times"]) if reference.get("status") == "ok" else None
            for method, row in rows.items():
                if row.get("status") != "ok":
                    table.append([method, "-", "-", "-", "-", "-", row["status"]])
                    continue
                t = median(row["times"])
                extra = row.get("extra")
                table.append([
                    method,
                    f"{t:.2f}",
                    f"{t / ours_t:.2f}" if ours_t else "-",
                    f"{extra / 2**20:.0f}" if extra is not None else "n/a",
                    f"{extra / (logits_bytes + labels_bytes):.2f}" if extra is not None else "n/a",
                    f"{row['maxrss'] / 2**20:.0f}",
                    f"{row.get('differ', '-')} differ",
                ])
                if row.get("alone"):
                    ta = median(row["alone"])
                    table.append(["label map-back only", f"{ta:.2f}", f"{ta / ours_t:.2f}" if ours_t else "-", "", "", "", ""])
            print()
            header = f"K = {num_classes}: logits {logits_bytes / 2**20:.0f} MiB, label map {labels_bytes / 2**20:.0f} MiB, all channels at native {dense_bytes / 2**20:.0f} MiB"
            print(header)
            text = md_table(["method", "time (s)", "time / ours", "extra peak (MiB)", "extra / (logits + labels)", "ru_maxrss (MiB)", "labels vs ours"], table)
            print(text, flush=True)
            lines += ["", header, "", text]
    lines.append(f"- load average at end: {load_average()}")
    print(lines[-1])
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return results


if __name__ == "__main__":
    main()
