"""Tutorial 03: landmarks through crop -> resample -> detector -> back to native, in index and world units.

The scan is the first volume of nibabel's ``example4d.nii.gz``, an oblique EPI (fMRI) scan
of 2 x 2 x 2.2 mm voxels.
We tape four "fiducial markers" onto it: bright Gaussian spots (sigma 3 mm) centred at
known world positions (RAS mm, MONAI's world frame), just outside the head. Then:

1. the true marker positions travel with the image through ``SpaceCropd`` and
   ``SpaceResampled`` (``point_keys``) and come back with ``SpaceInvertd``: a pure
   geometry round trip, exact to ~1e-12 mm;
2. a stand-in detector finds the markers on the working grid (intensity centroid of each
   bright blob), and the detections are mapped back to native index and world coordinates
   three ways:

   - monai-spacetx: ``SpaceInvertd(point_keys=...)``;
   - MONAI: ``CropForegroundd + Resized``, detections mapped through the affines
     (working index -> world with the working affine -> native index with the inverse of
     the loaded affine), which is the correct manual way;
   - naive: ``native = working * (crop size / working size) + crop start``, the scaling
     most hand-written code uses (it forgets that voxel centres are not at the box edges).

World coordinates here are RAS, as MONAI's loaders give them. Landmarks exported from ITK,
3D Slicer (LPS mode) or DICOM are LPS: flip the signs of x and y before using them.

Run: ``python tutorials/03_landmarks.py --out outputs``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from sample import epi_volume

# Marker centres in world mm (RAS). They sit in the air around the head of the sample scan.
MARKERS_WORLD = np.array(
    [
        [89.3, 49.4, 32.5],
        [-107.3, 63.3, 36.4],
        [77.1, 120.1, 39.7],
        [-98.5, -20.1, 27.2],
    ]
)
MARKER_SIGMA_MM = 3.0
MARKER_PEAK = 3000.0
THRESHOLD = 300.0  # foreground for the crop (head and markers)
MARGIN = 4
WORKING_SIZE = (96, 96, 48)


def planted_scan(out_dir: Path) -> Path:
    """The sample scan (float32) with the markers added; written as a 3-D NIfTI file."""
    import nibabel as nib

    src = nib.load(str(epi_volume(out_dir)))
    volume = np.asarray(src.dataobj, dtype=np.float32)
    affine = src.affine
    # world position of every voxel centre: affine @ [i, j, k, 1]
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in volume.shape], indexing="ij"), -1).astype(np.float64)
    world = grid @ affine[:3, :3].T + affine[:3, 3]
    for marker in MARKERS_WORLD:
        d2 = ((world - marker) ** 2).sum(-1)  # squared distance in mm: spheres in the world
        volume += (MARKER_PEAK * np.exp(-d2 / (2 * MARKER_SIGMA_MM**2))).astype(np.float32)
    path = Path(out_dir) / "epi_volume0_markers.nii.gz"
    nib.save(nib.Nifti1Image(volume, affine), str(path))
    return path


def detect_markers(image: np.ndarray, spacing_mm: np.ndarray) -> np.ndarray:
    """Stand-in detector: intensity centroid of each blob brighter than the head, (N, 3) working indices.

    Centroid over a box of +-4 sigma around each blob's brightest voxel, so the whole spot
    counts (the air around it is 0). Sorted by the first index axis, then the second.
    """
    from scipy import ndimage

    blobs, n = ndimage.label(image > 1500.0)
    radius = np.ceil(4 * MARKER_SIGMA_MM / spacing_mm).astype(int)
    found = []
    for k in range(1, n + 1):
        peak = np.array(ndimage.maximum_position(image, blobs, k))
        lo, hi = np.maximum(peak - radius, 0), np.minimum(peak + radius + 1, image.shape)
        window = image[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        found.append(np.array(ndimage.center_of_mass(window)) + lo)
    return np.array(sorted(found, key=lambda p: (round(p[0]), p[1])))


def _match(detected: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Order ``detected`` like ``truth`` (nearest neighbour; the markers are far apart)."""
    d = np.linalg.norm(detected[None] - truth[:, None], axis=-1)
    return detected[d.argmin(axis=1)]


def main(out_dir: Path = Path("outputs")) -> dict:
    """Run the landmark round trip; print and return the errors (mm)."""
    import nibabel as nib
    import torch
    from monai.transforms import Compose, CropForegroundd, LoadImaged, Resized

    from monai_spacetx import SpaceCropForegroundd, SpaceInvertd, SpaceResampled, get_native_space, get_space

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    working_size = WORKING_SIZE
    path = planted_scan(out_dir)
    affine = nib.load(str(path)).affine  # the file's index -> world (RAS) map
    print(f"[03] planted {len(MARKERS_WORLD)} markers into {path.name} ({time.perf_counter() - t0:.1f} s)")

    def foreground(x):
        return x > THRESHOLD

    # ---------------------------------------------------------------- monai-spacetx
    load = LoadImaged("image", ensure_channel_first=True, image_only=True)
    data = load({"image": str(path)})
    native = get_native_space(data["image"])  # the loaded geometry: affine + shape
    # landmarks travel in index units of the image; world -> native index once, at the start
    data["truth"] = native.world_to_index(MARKERS_WORLD)
    forward = Compose(
        [
            SpaceCropForegroundd("image", source_key="image", select_fn=foreground, margin=MARGIN, point_keys="truth"),
            SpaceResampled("image", spatial_size=working_size, mode="linear", point_keys="truth"),
        ]
    )
    data = forward(data)
    working = get_space(data["image"])
    # the detector's outputs on the working grid: a blob mask and the marker positions
    image = data["image"][0].numpy()
    detected = _match(detect_markers(image, working.spacing), data["truth"])
    detector_vox = np.linalg.norm(detected - data["truth"], axis=1)  # detection error, working voxels
    data["blobs"] = torch.from_numpy((image > 1500.0).astype(np.uint8))[None]
    data["markers"] = detected
    # one step back to the native grid: the mask is resampled once, the points ride along
    # ("truth" is the forward-mapped true positions: the pure geometry round trip)
    back = SpaceInvertd("blobs", orig_keys="image", mode="nearest", point_keys=["markers", "truth"])(data)
    roundtrip_mm = np.linalg.norm(native.index_to_world(back["truth"]) - MARKERS_WORLD, axis=1)
    ours_index = np.asarray(back["markers"])
    ours_world = native.index_to_world(ours_index)
    print(f"[03] monai-spacetx pipeline done ({time.perf_counter() - t0:.1f} s)")

    # ---------------------------------------------------------------- MONAI + manual mapping
    monai_pipe = Compose(
        [
            LoadImaged("image", ensure_channel_first=True, image_only=True),
            CropForegroundd("image", source_key="image", select_fn=foreground, margin=MARGIN),
            Resized("image", spatial_size=working_size, mode="trilinear"),
        ]
    )
    mdata = monai_pipe({"image": str(path)})
    w_affine = mdata["image"].affine.numpy()  # working index -> world, kept up to date by MONAI
    w_spacing = np.linalg.norm(w_affine[:3, :3], axis=0)
    m_detected = detect_markers(mdata["image"][0].numpy(), w_spacing)
    m_world = m_detected @ w_affine[:3, :3].T + w_affine[:3, 3]
    m_world = _match(m_world, MARKERS_WORLD)
    original = mdata["image"].meta["original_affine"]
    original = np.asarray(original.numpy() if hasattr(original, "numpy") else original, dtype=np.float64)
    monai_index = np.linalg.solve(original, np.c_[m_world, np.ones(len(m_world))].T).T[:, :3]

    # naive scaling from the working grid to the crop, then the crop offset
    start = np.asarray(mdata["foreground_start_coord"], dtype=np.float64)
    end = np.asarray(mdata["foreground_end_coord"], dtype=np.float64)
    scale = (end - start) / np.array(working_size)
    naive_index = m_detected * scale + start
    naive_world = naive_index @ affine[:3, :3].T + affine[:3, 3]
    naive_world = _match(naive_world, MARKERS_WORLD)
    naive_index = np.linalg.solve(affine, np.c_[naive_world, np.ones(len(naive_world))].T).T[:, :3]
    print(f"[03] MONAI pipeline done ({time.perf_counter() - t0:.1f} s)")

    truth_index = native.world_to_index(MARKERS_WORLD)
    errors = {
        "monai-spacetx (SpaceInvertd)": (ours_index, ours_world),
        "MONAI + affines (manual)": (monai_index, m_world),
        "naive scale + offset": (naive_index, naive_world),
    }
    print("True markers, world mm (RAS) and native index:")
    for w, i in zip(MARKERS_WORLD, truth_index):
        print(f"  world {np.array2string(w, precision=2, floatmode='fixed')}  index {np.array2string(i, precision=4, floatmode='fixed')}")
    print(f"(1) geometry round trip (crop -> resample -> back), max error: {roundtrip_mm.max():.2e} mm")
    print(f"    detector error on the working grid (ours): max {detector_vox.max():.4f} working voxels")
    print("(2) detections mapped back to the native grid:")
    head = f"  {'mapping':<30} {'max error (mm)':>15} {'mean error (mm)':>16} {'max error (native voxels)':>26}"
    lines = [head, "  " + "-" * (len(head) - 2)]
    result = {}
    for name, (index, world) in errors.items():
        mm = np.linalg.norm(world - MARKERS_WORLD, axis=1)
        vox = np.linalg.norm(index - truth_index, axis=1)
        result[name] = {"max_mm": float(mm.max()), "mean_mm": float(mm.mean()), "max_voxels": float(vox.max())}
        lines.append(f"  {name:<30} {mm.max():>15.4f} {mm.mean():>16.4f} {vox.max():>26.4f}")
    table = "\n".join(lines)
    print(table)
    from tutorial_figures import landmarks_figure

    shown = {"monai-spacetx": ours_index, "MONAI + affines": monai_index, "naive scaling": naive_index}
    figure = landmarks_figure(np.asarray(nib.load(str(path)).dataobj), affine, truth_index, shown, out_dir / "03_landmarks.png")
    print(f"[03] figure: {figure}")
    print(f"[03] done ({time.perf_counter() - t0:.1f} s)")
    return {
        "roundtrip_max_mm": float(roundtrip_mm.max()),
        "detector_max_working_voxels": float(detector_vox.max()),
        "mapped": result,
        "ours_index": ours_index,
        "ours_world": ours_world,
        "table": table,
        "figure": figure,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="folder for the planted scan (default: outputs)")
    main(parser.parse_args().out)
