"""Lesson 05: a training pipeline with random augmentation, lazy: image, label and landmarks in ONE resample.

``Compose([LoadImaged, Orientationd("RAS"), RandAffined, SpaceResampled(point_keys=...)], lazy=True)``:
MONAI's lazy transforms only record what they would do; ``SpaceResampled`` executes the records
and its own step as one resample per key with our engine. What to look at:

1. the label stays ``uint8`` with exactly its two values (RandAffined asked ``nearest`` for it);
2. one interpolation per key, none by MONAI: counted by wrapping our engine's dispatcher (every
   ``warp_image`` passes it) and MONAI's lazy resampler (every pending operation MONAI executes does);
3. the landmarks move by the same composed map as the pixels; ``SpaceInvertd(point_keys=...)``
   brings them back to the scan's voxels with an error at rounding level;
4. MONAI alone (``Spacingd`` last): its lazy flush drops the label's ``nearest`` (MONAI issue
   #6850): the label comes back as float with thousands of in-between values.

Run: ``python tutorials/05_training_augmentation.py --out outputs``
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional
from unittest import mock

import nibabel as nib
import numpy as np
import torch
from monai.transforms import Compose, LoadImaged, Orientationd, RandAffined, Spacingd
from monai.transforms.lazy import functional as monai_lazy

import monai_spacetx.engine.warp as engine
from monai_spacetx import SpaceInvertd, SpaceResampled
from monai_spacetx.compare import example_scan

KEYS = ["image", "label"]
SEED = 7
TISSUE = 8000.0  # the label: brain and scalp of this T1 scan
LANDMARKS = np.array([[16.2, 20.5, 12.3], [10.4, 25.1, 8.7], [22.8, 14.3, 16.9]])  # native voxel indices, in the head


@contextmanager
def counting_interpolations() -> Iterator[dict[str, int]]:
    """Count, inside the block, our engine's interpolating passes and MONAI's lazy resamples.

    Every ``warp_image`` goes through the engine's dispatcher; its ``identity``/``index`` plans copy
    voxels (not counted). Every operation MONAI executes lazily goes through its lazy ``resample``.
    """
    counts = {"monai-spacetx": 0, "MONAI": 0}
    with mock.patch.object(engine, "_dispatch", wraps=engine._dispatch) as ours, \
            mock.patch.object(monai_lazy, "resample", wraps=monai_lazy.resample) as theirs:
        yield counts
    counts["monai-spacetx"] = sum(call.args[1].kind not in ("identity", "index") for call in ours.call_args_list)
    counts["MONAI"] = theirs.call_count


def training_chain(last: Any) -> Compose:
    """Load -> reorient -> random rotation/scale -> ``last``, lazily, with a fixed seed."""
    chain = Compose([
        LoadImaged("image", ensure_channel_first=True, image_only=True),
        LoadImaged("label", ensure_channel_first=True, image_only=True, dtype=np.uint8),  # keep the label's dtype
        Orientationd(KEYS, axcodes="RAS", labels=None),  # labels=None: MONAI's coming default
        RandAffined(KEYS, prob=1.0, rotate_range=(0.3, 0.3, 0.3), scale_range=0.15, mode=("bilinear", "nearest"), padding_mode="zeros"),
        last,
    ], lazy=True)
    chain.set_random_state(SEED)  # both chains draw the same rotation and scale
    return chain


def main(out_dir: Path = Path("outputs")) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scan_path = example_scan("anatomical.nii")
    scan = nib.Nifti1Image.from_filename(str(scan_path))
    label_path = out_dir / "anatomical_label.nii.gz"  # training data are files: write the label as one
    nib.save(nib.Nifti1Image((np.asarray(scan.dataobj) > TISSUE).astype(np.uint8), scan.affine), str(label_path))
    sample = {"image": str(scan_path), "label": str(label_path), "landmarks": LANDMARKS}

    with counting_interpolations() as ours_count:
        ours = training_chain(SpaceResampled(KEYS, pixdim=1.5, mode=("bilinear", "nearest"), point_keys="landmarks"))(dict(sample))
        for key in KEYS:  # what the training step reads; a lazy Space step's pixels are computed when first read
            ours[key].as_tensor()
    back = SpaceInvertd("label", orig_keys="image", mode="nearest", point_keys="landmarks")(ours)
    landmark_error = float(np.abs(np.asarray(back["landmarks"]) - LANDMARKS).max())  # native voxels
    with counting_interpolations() as monai_count:
        theirs = training_chain(Spacingd(KEYS, pixdim=1.5, mode=("bilinear", "nearest")))(dict(sample))

    values = torch.unique(ours["label"].as_tensor()).tolist()
    monai_values = int(torch.unique(theirs["label"].as_tensor()).numel())
    print(f"augmented grid : {tuple(ours['image'].shape[1:])} at 1.5 mm (scan {scan.shape} at 2 mm)")
    print(f"label records  : {[op['class'] for op in ours['label'].applied_operations]}")
    print(f"label (ours)   : values {values}, dtype {ours['label'].dtype}")
    print(f"interpolations : ours {ours_count} for {len(KEYS)} keys; MONAI alone {monai_count}")
    print(f"landmarks back : max error {landmark_error:.1e} voxel vs the originals")
    print(f"label (MONAI)  : {monai_values} distinct values, dtype {theirs['label'].dtype} (MONAI issue #6850)")
    figure = plot(ours, theirs, monai_values, out_dir / "05_training_augmentation.png")
    print(f"figure         : {figure}")
    return {"label_values": values, "label_dtype": ours["label"].dtype, "interpolations": ours_count,
            "landmark_error_voxels": landmark_error, "monai_interpolations": monai_count,
            "monai_label_values": monai_values, "monai_label_dtype": theirs["label"].dtype, "figure": figure}


def plot(ours: dict[str, Any], theirs: dict[str, Any], monai_values: int, path: Path) -> Optional[Path]:
    """The middle slice: augmented image + landmarks, our label, MONAI's label, captioned (None without matplotlib)."""
    from tutorial_figures import augmentation_figure

    return augmentation_figure(ours, theirs, monai_values, path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default: outputs)")
    main(parser.parse_args().out)
