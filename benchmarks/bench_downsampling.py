"""Downsampling quality on a real scan: ``anti_aliasing`` and nnU-Net's separate thick axis.

The scan is the first volume of nibabel's ``example4d.nii.gz`` (a 128x96x24 oblique EPI, 2 x 2 x
2.2 mm), read from the installed wheel. Errors are RMS differences relative to the scan's
intensity standard deviation (so 0.10 is 10 % of the scan's contrast).

1. **Anti-aliasing.** Shrink the plane by 4 (128x96 -> 32x24, slices kept) with ``linear``
   interpolation, with and without ``anti_aliasing=True`` (MONAI ``Resize``'s option, same
   default sigma). Reference: the 4x4 block mean (MONAI's ``mode="area"``), the low-pass a
   downsampling should approximate. MONAI ``Resize(anti_aliasing=True)`` is shown beside ours.
2. **Thick slices.** Average blocks of 4 x 2 x 1 voxels (a coarser acquisition of the same
   anatomy, 8 x 4 x 2.2 mm: 8 mm thick slices, spacing ratio 3.6 > 3), then resample back to
   the scan's grid with
   ``cubic`` everywhere, ``linear`` everywhere, and ``cubic`` in-plane with ``nearest`` or
   ``linear`` along the thick axis (``thick_axis_mode``, nnU-Net's "separate z"). Reference:
   the original scan. "overshoot" counts voxels outside the thick scan's value range (cubic
   ringing across slices invents intensities).

Run: ``python benchmarks/bench_downsampling.py``. No timing: quality only.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import torch

from _common import md_table
from monai_spacetx import Space
from monai_spacetx.compare import example_scan
from monai_spacetx.engine import WarpOptions, warp_image


def relative_rms(values: np.ndarray, reference: np.ndarray, scale: float) -> float:
    return float(np.sqrt(np.mean((values - reference) ** 2)) / scale)


def block_mean(volume: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Average of each ``factors`` block (shape divisible by ``factors``)."""
    shape = [n // f for n, f in zip(volume.shape, factors)]
    split = [v for n, f in zip(shape, factors) for v in (n, f)]
    return volume.reshape(split).mean(axis=tuple(range(1, 2 * volume.ndim, 2)))


def anti_aliasing_rows(scan: np.ndarray, native: Space, scale: float) -> list[list[str]]:
    from monai.transforms import Resize

    target = native.resize((32, 24, native.shape[2]))
    reference = block_mean(scan, (4, 4, 1))
    rows = []
    for name, options in (("linear", WarpOptions.parse("linear", "border")),
                          ("linear, anti_aliasing=True", WarpOptions.parse("linear", "border", anti_aliasing=True))):
        rows.append([f"monai-spacetx {name}", f"{relative_rms(warp_image(scan, native, target, options=options), reference, scale):.4f}"])
    theirs = Resize(target.shape, mode="trilinear", anti_aliasing=True)(torch.from_numpy(scan)[None]).numpy()[0]
    rows.append(["MONAI Resize trilinear, anti_aliasing=True", f"{relative_rms(theirs, reference, scale):.4f}"])
    return rows


def thick_axis_rows(scan: np.ndarray, native: Space, scale: float) -> list[list[str]]:
    thick = block_mean(scan, (4, 2, 1))
    thick_space = native.respace((8.0, 4.0, native.spacing[2]), align="edges")  # the same field of view
    assert thick_space.shape == thick.shape, (thick_space.shape, thick.shape)
    low, high = thick.min(), thick.max()
    rows = []
    for name, mode, thick_mode in (("cubic", "cubic", None), ("linear", "linear", None),
                                   ("cubic in-plane, nearest along the thick axis", "cubic", "nearest"),
                                   ("cubic in-plane, linear along the thick axis", "cubic", "linear")):
        options = WarpOptions.parse(mode, "border", thick_axis_mode=thick_mode)
        back = warp_image(thick, thick_space, native, options=options)
        overshoot = int(((back < low - 1e-3) | (back > high + 1e-3)).sum())
        rows.append([name, f"{relative_rms(back, scan, scale):.4f}", str(overshoot)])
    return rows


def main() -> dict[str, list[list[str]]]:
    image = nib.load(example_scan("example4d.nii.gz"))
    scan = np.asarray(image.dataobj[..., 0], dtype=np.float64)
    native = Space.from_affine(image.affine, scan.shape)
    scale = float(scan.std())
    print(f"scan: example4d.nii.gz volume 0, shape {scan.shape}, spacing {np.round(native.spacing, 3).tolist()} mm")
    aliasing = anti_aliasing_rows(scan, native, scale)
    print("\n1. shrink the plane by 4; RMS error vs the 4x4 block mean / scan std\n")
    print(md_table(["resample", "relative RMS error"], aliasing))
    thick = thick_axis_rows(scan, native, scale)
    print("\n2. 8 x 4 x 2.2 mm back to 2 x 2 x 2.2 mm; RMS error vs the original / scan std\n")
    print(md_table(["resample", "relative RMS error", "overshoot voxels"], thick))
    return {"anti_aliasing": aliasing, "thick_axis": thick}


if __name__ == "__main__":
    main()
