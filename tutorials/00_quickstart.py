"""Quickstart: crop -> resample -> network -> map back -> save, on a real MR scan.

The scan is a 33 x 41 x 25 T1-weighted MR head volume (2 mm voxels) that ships inside
nibabel, so nothing is downloaded. Run from the repository root:

    python tutorials/00_quickstart.py            # writes outputs/anatomical_quickstart.nii.gz
"""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.transforms import Compose, LoadImaged, SaveImaged

from monai_spacetx import SpaceCropd, SpaceInvertd, SpaceResampled, get_native_space, get_space
from monai_spacetx.compare import example_scan, score_labels, working_grid_mask
from tutorial_figures import quickstart_figure

TISSUE = 8000.0  # the stand-in network's threshold: brain and scalp of this T1 scan, not air


def main(out_dir: Path = Path("outputs")) -> dict:
    scan = example_scan("anatomical.nii")
    data = LoadImaged(keys="image", ensure_channel_first=True, image_only=True)({"image": str(scan)})
    data["label"] = (data["image"] > TISSUE).to(torch.uint8)  # a reference label, to check the round trip
    native_label, native_image = data["label"][0].clone(), data["image"][0].clone()

    forward = Compose([  # the crop is a copy (never interpolated); the resample is the only one
        SpaceCropd(keys=["image", "label"], roi_start=(4, 4, 2), roi_end=(29, 37, 23)),  # the region the network sees
        SpaceResampled(keys=["image", "label"], pixdim=(1.0, 1.0, 1.0), mode=("bilinear", "nearest")),
    ])
    data = forward(data)
    data["pred"] = (data["image"] > TISSUE).to(torch.uint8)  # the network stand-in, on the 1 mm working grid

    back = SpaceInvertd(keys=["pred", "label"], orig_keys="image", mode="nearest")(data)  # one resample straight back
    SaveImaged(keys="pred", output_dir=str(out_dir), output_postfix="quickstart", separate_folder=False, resample=False)(back)
    saved = Path(out_dir) / "anatomical_quickstart.nii.gz"  # MONAI names it <scan>_<postfix>

    covered = working_grid_mask(get_native_space(data["image"]), get_space(data["image"]))
    score = score_labels(back["label"], native_label, covered)
    written = nib.load(str(saved))
    affine_diff = float(np.abs(written.affine - nib.load(str(scan)).affine).max())
    print(f"scan            : {scan.name}, shape {tuple(native_label.shape)} -> working grid {tuple(data['image'].shape[1:])}")
    print(f"label round trip: {score.wrong_inside} wrong voxels inside the working grid, Dice {score.dice_inside:.4f}")
    print(f"                  {score.wrong_outside} wrong outside it (cropped away: no model could predict them)")
    print(f"saved prediction: {saved}, shape {written.shape}, affine differs from the scan's by {affine_diff:.1e} mm")
    figure = quickstart_figure(native_image, native_label, back["pred"][0], data["image"], data["pred"], covered, Path(out_dir) / "00_quickstart.png")
    print(f"figure          : {figure}")
    return {"score": score, "saved": saved, "shape": written.shape, "affine_diff": affine_diff, "figure": figure}


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("outputs"))
