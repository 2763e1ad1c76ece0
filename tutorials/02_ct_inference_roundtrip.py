"""Tutorial 02: a 3-D inference round trip on a real oblique scan, saved so it overlays the original.

The scan is ``example4d.nii.gz`` from nibabel's own test data (first volume:
128 x 96 x 24 voxels of 2 x 2 x 2.2 mm, axes L-A-S, tilted ~9 degrees about the first
axis: an oblique acquisition). Any dependency-free user has it, because MONAI needs nibabel.

The pipeline is the one every segmentation inference script has:

1. ``LoadImaged``: MetaTensor with the file's affine (RAS world, MONAI's convention);
2. crop around the foreground (``SpaceCropForegroundd`` with ``source_key`` + ``select_fn`` + ``margin``);
3. resample to the network's working grid (``SpaceResampled``);
4. a stand-in model: threshold -> mask, and a smooth probability map;
5. map the mask (nearest) and the probability map (linear) back to the native grid in
   **one** resample each (``SpaceInvertd``);
6. save with ``SaveImaged(resample=False)`` and check with nibabel that the saved affine and
   shape are the original file's: the prediction overlays the scan in any viewer.

The same pipeline is run with MONAI's own ``CropForegroundd + Spacingd/Resized + Invertd``.
Because the stand-in model is a threshold, the ideal answer is known: the threshold of the
native image itself. The table counts the native voxels where each pipeline's mapped-back
mask differs from it.

Run: ``python tutorials/02_ct_inference_roundtrip.py --out outputs``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

THRESHOLD = 300.0  # intensity threshold of the stand-in model (the head, not the background)
PROB_WIDTH = 40.0  # softness of the stand-in probability map, in intensity units
MARGIN = 4  # voxels of context around the foreground box

# Working grids. "half spacing" halves the native spacing with voxel centres kept
# (align="centers", MONAI Spacingd's convention): every native voxel centre is then also a
# working voxel centre. It is computed from the file: this scan's third spacing is
# 2.1999992 mm, not 2.2, and pixdim 1.1 would miss the native centres by a few 1e-6 voxel.
# "network size" is a fixed network input shape (MONAI Resized's convention: edges kept).
WORKING_GRIDS = {
    "half spacing": {"pixdim": "half"},
    "network size 96x96x48": {"spatial_size": (96, 96, 48)},
}


class Progress:
    """Prints each step with the time it took (steps here take ~0.1-3 s)."""

    def __init__(self, total: int, prefix: str = "[02]") -> None:
        self.total, self.done, self.prefix, self.t0 = total, 0, prefix, time.perf_counter()

    def step(self, message: str) -> None:
        self.done += 1
        print(f"{self.prefix} {self.done}/{self.total} {message} ({time.perf_counter() - self.t0:.1f} s)", flush=True)


def nibabel_sample(out_dir: Path) -> Path:
    """Write the first volume of nibabel's ``example4d.nii.gz`` as a 3-D NIfTI file; return its path."""
    import nibabel as nib
    from nibabel.testing import data_path

    src = nib.load(str(Path(data_path) / "example4d.nii.gz"))
    volume = np.asarray(src.dataobj[..., 0])
    path = Path(out_dir) / "example4d_vol0.nii.gz"
    nib.save(nib.Nifti1Image(volume, src.affine), str(path))  # same affine (sform and qform)
    return path


def stand_in_model(image):
    """A "network": returns (mask, probability) on the grid it is given, shapes (1, *spatial)."""
    import torch

    x = image.as_tensor() if hasattr(image, "as_tensor") else image
    prob = torch.sigmoid((x.float() - THRESHOLD) / PROB_WIDTH)
    return (x >= THRESHOLD).to(torch.uint8), prob


def foreground(x):
    return x > THRESHOLD


def save(data: dict, key: str, tag: str, out_dir: Path, dtype) -> Path:
    """``SaveImaged`` without resampling: the file gets the MetaTensor's (native) affine."""
    from monai.transforms import SaveImaged

    SaveImaged(
        key, output_dir=str(out_dir), output_postfix=tag, separate_folder=False, resample=False,
        output_dtype=dtype, print_log=False,
    )(data)
    stem = Path(data[key].meta["filename_or_obj"]).name.split(".")[0]
    return Path(out_dir) / f"{stem}_{tag}.nii.gz"


def run_spacetx(path: Path, grid: dict, out_dir: Path, tag: str) -> dict:
    from monai.transforms import Compose, LoadImaged

    from monai_spacetx import SpaceCropForegroundd, SpaceInvertd, SpaceResampled

    pre = Compose(
        [
            LoadImaged("image", ensure_channel_first=True, image_only=True),
            # the box of `image > THRESHOLD` grown by MARGIN voxels (padded where it leaves the
            # scan); a crop is an index copy, never an interpolation
            SpaceCropForegroundd("image", source_key="image", select_fn=foreground, margin=MARGIN),
            # align="centers" for a spacing (as Spacingd), "edges" for a fixed size (as Resized)
            SpaceResampled("image", mode="linear", align="centers" if "pixdim" in grid else "edges", **grid),
        ]
    )
    data = pre({"image": str(path)})
    data["mask"], data["prob"] = stand_in_model(data["image"])  # plain tensors on the working grid
    # one resample each, straight from the working grid to the file's native grid; the
    # working geometry is read from the transformed input image (orig_keys)
    back = SpaceInvertd(["mask", "prob"], orig_keys="image", mode=("nearest", "linear"))(data)
    files = {
        "mask": save(back, "mask", f"mask_spacetx_{tag}", out_dir, np.uint8),
        "prob": save(back, "prob", f"prob_spacetx_{tag}", out_dir, np.float32),
    }
    return {
        "working_shape": tuple(data["image"].shape[1:]),
        "mask": back["mask"][0].numpy().astype(np.uint8),
        "prob": back["prob"][0].numpy(),
        "files": files,
    }


def run_monai(path: Path, grid: dict, out_dir: Path, tag: str) -> dict:
    from monai.data import MetaTensor
    from monai.transforms import Compose, CropForegroundd, Invertd, LoadImaged, Resized, Spacingd

    resample = (
        Spacingd("image", pixdim=grid["pixdim"], mode="bilinear")
        if "pixdim" in grid
        else Resized("image", spatial_size=grid["spatial_size"], mode="trilinear")
    )
    pre = Compose(
        [
            LoadImaged("image", ensure_channel_first=True, image_only=True),
            CropForegroundd("image", source_key="image", select_fn=foreground, margin=MARGIN),
            resample,
        ]
    )
    data = pre({"image": str(path)})
    mask, prob = stand_in_model(data["image"])
    data["mask"], data["prob"] = MetaTensor(mask), MetaTensor(prob)  # Invertd skips plain tensors
    # MONAI inverts step by step (resample, then un-crop); nearest_interp switches the mode for masks
    back = Invertd("mask", transform=pre, orig_keys="image", nearest_interp=True)(data)
    back = Invertd("prob", transform=pre, orig_keys="image", nearest_interp=False)(back)
    files = {
        "mask": save(back, "mask", f"mask_monai_{tag}", out_dir, np.uint8),
        "prob": save(back, "prob", f"prob_monai_{tag}", out_dir, np.float32),
    }
    return {
        "working_shape": tuple(data["image"].shape[1:]),
        "mask": np.asarray(back["mask"][0]).astype(np.uint8),
        "prob": np.asarray(back["prob"][0], dtype=np.float32),
        "files": files,
    }


def overlays(saved: Path, original: Path) -> dict:
    """Whether the saved file has the original file's shape and affine (reloaded with nibabel)."""
    import nibabel as nib

    a, b = nib.load(str(saved)), nib.load(str(original))
    return {
        "shape": tuple(a.shape),
        "shape_equal": a.shape == b.shape,
        "affine_max_diff": float(np.abs(a.affine - b.affine).max()),
        "affine_equal": bool(np.allclose(a.affine, b.affine, atol=1e-5)),
    }


def plot(native: np.ndarray, ideal: np.ndarray, results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    z = native.shape[2] // 2  # an axial slice through the middle
    names = list(results)
    fig, axes = plt.subplots(len(names), 2, figsize=(9, 4.2 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        for col, method in enumerate(("monai-spacetx", "MONAI")):
            ax = axes[row, col]
            mask = results[name][method]["mask"]
            wrong = mask != ideal
            # index axis 0 runs right-to-left (L), axis 1 front-to-back (A): show axis 0 as x
            ax.imshow(native[:, :, z].T, cmap="gray", origin="lower")
            ax.contour(ideal[:, :, z].T, levels=[0.5], colors="lime", linewidths=1.0)
            ax.contour(mask[:, :, z].T, levels=[0.5], colors="red", linewidths=0.8, linestyles="--")
            ys, xs = np.nonzero(wrong[:, :, z].T)
            ax.plot(xs, ys, "y.", markersize=3)
            ax.set_title(f"{method} | {name}\nwrong voxels (whole volume): {int(wrong.sum())}", fontsize=9)
            ax.set_axis_off()
    fig.suptitle("green: native threshold (ideal), red dashed: mapped-back mask, yellow: wrong voxels", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_table(rows: dict) -> str:
    head = f"{'working grid':<30} {'pipeline':<14} {'working shape':>14} {'wrong (mask)':>13} {'wrong (prob>=0.5)':>18} {'saved overlays':>15}"
    lines = [head, "-" * len(head)]
    for name, per_method in rows.items():
        for method, r in per_method.items():
            ok = "yes" if r["overlays"] else "NO"
            lines.append(
                f"{name:<30} {method:<14} {str(r['working_shape']):>14} {r['wrong_mask']:>13d} {r['wrong_prob']:>18d} {ok:>15}"
            )
    return "\n".join(lines)


def main(out_dir: Path, small: bool = False) -> dict:
    """Run both pipelines on the nibabel sample, save, reload, compare; return the numbers.

    ``small`` runs only the fixed-size working grid and skips the figure.
    """
    import nibabel as nib

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grids = dict(list(WORKING_GRIDS.items())[1:]) if small else WORKING_GRIDS
    progress = Progress(total=2 + 2 * len(grids) + (0 if small else 1))

    path = nibabel_sample(out_dir)
    original = nib.load(str(path))
    native = np.asarray(original.dataobj, dtype=np.float32)
    ideal = (native >= THRESHOLD).astype(np.uint8)  # the model applied on the native grid itself
    direction = original.affine[:3, :3] / np.linalg.norm(original.affine[:3, :3], axis=0)
    tilt = np.degrees(np.arccos(np.clip(np.abs(direction).max(axis=0).min(), -1, 1)))  # largest axis tilt
    print(f"scan: {path.name}, shape {original.shape}, axes {''.join(nib.aff2axcodes(original.affine))}, "
          f"spacing {np.round(np.linalg.norm(original.affine[:3, :3], axis=0), 3).tolist()} mm, "
          f"oblique: axes tilted up to {tilt:.1f} degrees")
    progress.step("wrote the sample scan")

    spacing = np.linalg.norm(original.affine[:3, :3], axis=0)  # voxel size = column norms of the affine
    results, rows = {}, {}
    for name, grid in grids.items():
        if grid.get("pixdim") == "half":
            grid = {"pixdim": tuple(float(s) for s in spacing / 2)}
        tag = "pixdim" if "pixdim" in grid else "size"
        results[name] = {}
        for method, run in (("monai-spacetx", run_spacetx), ("MONAI", run_monai)):
            r = run(path, grid, out_dir, tag)
            r["saved"] = {k: overlays(f, path) for k, f in r["files"].items()}
            r["overlays"] = all(v["shape_equal"] and v["affine_equal"] for v in r["saved"].values())
            r["wrong_mask"] = int((r["mask"] != ideal).sum())
            r["wrong_prob"] = int(((r["prob"] >= 0.5).astype(np.uint8) != ideal).sum())
            results[name][method] = r
            progress.step(f"{method:<13} | {name}: wrong voxels {r['wrong_mask']}")
        rows[name] = results[name]

    table = format_table(rows)
    print(f"Round trip of a threshold model's outputs; wrong = native voxels differing from the native threshold "
          f"({int(ideal.sum())} foreground voxels of {ideal.size})")
    print(table)
    ours = results[list(grids)[-1]]["monai-spacetx"]["saved"]["mask"]
    print(f"saved mask reloaded with nibabel: shape {ours['shape']} (original {original.shape}), "
          f"max |affine - original affine| = {ours['affine_max_diff']:.2e}")
    figure = None
    if not small:
        figure = out_dir / "02_ct_inference_roundtrip.png"
        plot(native, ideal, results, figure)
        progress.step(f"figure: {figure}")
    progress.step("done")

    numbers = {
        name: {
            method: {k: r[k] for k in ("working_shape", "wrong_mask", "wrong_prob", "overlays", "saved")}
            for method, r in per.items()
        }
        for name, per in results.items()
    }
    return {
        "scan": str(path),
        "native_shape": tuple(original.shape),
        "native_affine": original.affine,
        "foreground_voxels": int(ideal.sum()),
        "grids": numbers,
        "table": table,
        "figure": str(figure) if figure else None,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="folder for the files and figure (default: outputs)")
    parser.add_argument("--small", action="store_true", help="one working grid, no figure (for tests)")
    args = parser.parse_args()
    main(args.out, small=args.small)
