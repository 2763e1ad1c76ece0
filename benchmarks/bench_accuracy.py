"""The baseline of docs/design.md §7, re-measured: label round trips through MONAI pipelines + ``Invertd``,
next to ``SpaceInvertd`` after the same MONAI pipeline and to our own equivalent pipeline.

For each pipeline (on an oblique, anisotropic 3-D volume read from NIfTI with ``LoadImaged``):

- **fwd label**: the label is mapped forward by the MONAI pipeline itself (``nearest``), then
  back by MONAI's ``Invertd(nearest_interp=True)`` - the baseline's main column - and, on the very
  same forwarded label, by ``SpaceInvertd``;
- **ideal prediction**: the native label sampled at the working grid's voxel centres through
  the affine (what a perfect model would return on MONAI's working grid), mapped back by
  ``Invertd`` and by ``SpaceInvertd``; also how many working voxels MONAI's own ``nearest``
  forward label differs from that ideal prediction;
- **ours fwd+back**: the same geometry built from ``SpaceCropd``/``SpaceResampled``, label
  forward and ``SpaceInvertd`` back.

Coarse grids: hard labels go back with MONAI ``nearest`` vs our ``mode="label"`` (per-class
linear, then argmax; forward too in our own pipeline); probabilities (the one-hot label)
with MONAI ``Invertd(nearest_interp=False)`` (bilinear) vs our ``mode="linear"``, argmax after.

Two cases: the baseline/test geometry (40x36x22 voxels of 0.9x1.1x2.5 mm, the numbers
docs/design.md §7 quotes) and a realistic 256x256x120 CT-like volume with the same pipelines scaled
to it (``--quick``: the baseline geometry only). Cells are "wrong native voxels / mean Dice".

Run: ``python benchmarks/bench_accuracy.py [--quick] [--markdown PATH]``
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import _common as C  # the shared harness beside this script

torch = C.setup_torch()

import nibabel as nib  # noqa: E402
from monai.transforms import (  # noqa: E402
    Compose,
    CropForegroundd,
    Invertd,
    Orientationd,
    Resized,
    Spacingd,
    Zoomd,
)

from monai_spacetx import Space, SpaceCropd, SpaceCropForegroundd, SpaceInvertd, SpaceResampled  # noqa: E402

# docs/design.md §7 as written (MONAI 1.6.1): pipeline-forwarded label, and Invertd on the ideal prediction
BASELINE_FWD = {
    "Spacingd finer": "0 / 1.000",
    "Spacingd coarser": "697 / 0.951",
    "Resized larger": "1982 / 0.859",
    "CropForegroundd + Resized": "1621 / 0.886",
    "Zoomd x1.7": "1982 / 0.859",
    "Orientationd + Spacingd": "0 / 1.000",
}
BASELINE_IDEAL = {"Resized larger": "1139", "CropForegroundd + Resized": "1032", "Zoomd x1.7": "1228"}
BASELINE_MONAI_VS_IDEAL = {"Resized larger": "6797", "CropForegroundd + Resized": "11024", "Zoomd x1.7": "3627"}

# The baseline / test geometry (tests/test_transforms.py)
SMALL_SHAPE = (40, 36, 22)
SMALL_SPACING = (0.9, 1.1, 2.5)
SMALL_FINE, SMALL_COARSE = (0.7, 0.8, 1.6), (1.6, 1.9, 3.6)
SMALL_RESIZE, SMALL_CROP_RESIZE, SMALL_ISO = (64, 56, 40), (48, 48, 32), 0.75


# ----------------------------------------------------------------------------- cases
def small_case(folder: str) -> dict[str, Any]:
    """tests/test_transforms.py's case: two classes, image = 100 * label + noise."""
    native = Space(SMALL_SHAPE, spacing=SMALL_SPACING, origin=(-120.5, 80.25, -310.0), direction=C.oblique_direction())
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in SMALL_SHAPE], indexing="ij"), -1)
    body = (((grid - (19.3, 17.6, 10.4)) / (12.2, 10.7, 6.3)) ** 2).sum(-1) <= 1.0
    core = (((grid - (22.1, 15.2, 11.0)) / (4.6, 5.3, 3.1)) ** 2).sum(-1) <= 1.0
    label = (body.astype(np.uint8) + core.astype(np.uint8) * (body > 0)).astype(np.uint8)
    image = (label * 100.0 + np.random.default_rng(0).normal(0, 5, label.shape)).astype(np.float32)
    paths = {k: os.path.join(folder, f"small_{k}.nii.gz") for k in ("image", "label")}
    nib.save(nib.Nifti1Image(image, native.affine), paths["image"])
    nib.save(nib.Nifti1Image(label, native.affine), paths["label"])
    return {
        "title": f"baseline/test geometry: {SMALL_SHAPE} voxels of {SMALL_SPACING} mm, oblique, 2 classes",
        **paths,
        "lab": label,
        "classes": (1, 2),
        "threshold": 50.0,
        "fine": SMALL_FINE,
        "coarse": SMALL_COARSE,
        "resize": SMALL_RESIZE,
        "crop_resize": SMALL_CROP_RESIZE,
        "iso": SMALL_ISO,
        "design": True,
    }


def _foreground_box_size(mask: np.ndarray, margin: int) -> np.ndarray:
    idx = np.argwhere(mask)
    return np.minimum(idx.max(0) + 1 + margin, mask.shape) - np.maximum(idx.min(0) - margin, 0)


def large_case(folder: str) -> dict[str, Any]:
    """The realistic CT-like volume, with the baseline's pipelines scaled to keep their ratios to the native grid."""
    case = C.write_case(False, folder)
    shape, spacing = np.array(case["shape"]), np.array(case["spacing"])
    small_box = _foreground_box_size(small_case(folder)["lab"] > 0, 2)
    big_box = _foreground_box_size(case["lab"] > 0, 2)
    return {
        "title": (
            f"realistic: {tuple(case['shape'])} voxels of {tuple(round(s, 4) for s in case['spacing'])} mm CT-like, "
            "oblique, 3 classes; the baseline's pipelines scaled by the same ratios"
        ),
        "image": case["image"],
        "label": case["label"],
        "lab": case["lab"],
        "classes": C.CLASSES,
        "threshold": -500.0,
        "fine": tuple(float(v) for v in np.round(spacing * np.array(SMALL_FINE) / SMALL_SPACING, 2)),
        "coarse": tuple(float(v) for v in np.round(spacing * np.array(SMALL_COARSE) / SMALL_SPACING, 2)),
        "resize": tuple(int(v) for v in np.round(shape * np.array(SMALL_RESIZE) / SMALL_SHAPE)),
        "crop_resize": tuple(int(v) for v in np.round(big_box * np.array(SMALL_CROP_RESIZE) / small_box)),
        "iso": SMALL_ISO,
        "design": False,
    }


# ----------------------------------------------------------------------------- pipelines
# Each pipeline builds MONAI's and our transforms for the given keys; ``kinds`` maps each key to
# "image", "label" or "prob", which picks the per-key interpolation mode.
MONAI_MODE = {
    "Spacingd": {"image": "bilinear", "label": "nearest", "prob": "bilinear"},
    "Resized": {"image": "area", "label": "nearest", "prob": "trilinear"},
    "Zoomd": {"image": "area", "label": "nearest", "prob": "trilinear"},
}


def pipelines(case: dict[str, Any]) -> list[dict[str, Any]]:
    thr = case["threshold"]

    def select(x: Any) -> Any:
        return x > thr

    def modes(kind_map: dict, keys: list, table: str) -> tuple:
        # kinds may carry an override for MONAI's label mode ("nearest-exact" for Resized/Zoomd)
        return tuple(kind_map.get(("monai", table, k)) or MONAI_MODE[table][kind_map[k]] for k in keys)

    def our_modes(kind_map: dict, keys: list, label_mode: str) -> tuple:
        return tuple({"image": "linear", "label": label_mode, "prob": "linear"}[kind_map[k]] for k in keys)

    shape = np.array(nib.load(case["image"]).shape)
    zoom_shape = [int(n * 1.7) for n in shape]
    fine, coarse, resize, crop_resize, iso = case["fine"], case["coarse"], case["resize"], case["crop_resize"], case["iso"]
    return [
        {
            "name": "Spacingd finer",
            "grid": f"pixdim {fine}",
            "monai": lambda keys, kinds: [Spacingd(keys, pixdim=fine, mode=modes(kinds, keys, "Spacingd"))],
            "ours": lambda keys, kinds, lm: [SpaceResampled(keys, pixdim=fine, mode=our_modes(kinds, keys, lm))],
            "coarse": False,
        },
        {
            "name": "Spacingd coarser",
            "grid": f"pixdim {coarse}",
            "monai": lambda keys, kinds: [Spacingd(keys, pixdim=coarse, mode=modes(kinds, keys, "Spacingd"))],
            "ours": lambda keys, kinds, lm: [SpaceResampled(keys, pixdim=coarse, mode=our_modes(kinds, keys, lm))],
            "coarse": True,
        },
        {
            "name": "Resized larger",
            "grid": f"size {tuple(resize)}",
            "monai": lambda keys, kinds: [Resized(keys, spatial_size=resize, mode=modes(kinds, keys, "Resized"))],
            "ours": lambda keys, kinds, lm: [SpaceResampled(keys, spatial_size=resize, mode=our_modes(kinds, keys, lm))],
            "coarse": False,
        },
        {
            "name": "CropForegroundd + Resized",
            "grid": f"margin 2, size {tuple(crop_resize)}",
            "monai": lambda keys, kinds: [
                CropForegroundd(keys, source_key="image", select_fn=select, margin=2),
                Resized(keys, spatial_size=crop_resize, mode=modes(kinds, keys, "Resized")),
            ],
            "ours": lambda keys, kinds, lm: [
                SpaceCropForegroundd(keys, source_key="image", select_fn=select, margin=2),
                SpaceResampled(keys, spatial_size=crop_resize, mode=our_modes(kinds, keys, lm)),
            ],
            "coarse": False,
        },
        {
            "name": "Zoomd x1.7",
            "grid": f"size {tuple(zoom_shape)}",
            "monai": lambda keys, kinds: [Zoomd(keys, zoom=1.7, keep_size=False, mode=modes(kinds, keys, "Zoomd"))],
            "ours": lambda keys, kinds, lm: [SpaceResampled(keys, spatial_size=zoom_shape, mode=our_modes(kinds, keys, lm))],
            "coarse": False,
        },
        {
            "name": "Orientationd + Spacingd",
            "grid": f"RAS, pixdim {iso}",
            "monai": lambda keys, kinds: [
                Orientationd(keys, axcodes="RAS"),
                Spacingd(keys, pixdim=iso, mode=modes(kinds, keys, "Spacingd")),
            ],
            "ours": lambda keys, kinds, lm: [
                Orientationd(keys, axcodes="RAS"),
                SpaceResampled(keys, pixdim=iso, align="centers", mode=our_modes(kinds, keys, lm)),
            ],
            "coarse": False,
        },
    ]


# ----------------------------------------------------------------------------- measurement
def load_case(case: dict[str, Any], n_classes: int) -> dict[str, Any]:
    data = C.load(case, ("image", "label"))
    onehot = torch.stack([(data["label"][0] == k) for k in range(n_classes)]).to(torch.float32)
    data["prob"] = data["label"].clone()
    data["prob"].set_array(onehot)
    return data


def argmax_label(x: Any) -> np.ndarray:
    return C.to_numpy(x).argmax(0)


def measure(case: dict[str, Any], spec: dict[str, Any], loaded: dict[str, Any], native: Space, prob: bool) -> list[str]:
    """One table row: cells of 'wrong / Dice' (and working voxels vs ideal)."""
    truth, classes = case["lab"], case["classes"]
    n_classes = len(classes) + 1
    key = "prob" if prob else "label"
    kinds = {"image": "image", "label": "label", "prob": "prob"}
    keys = ["image", key]
    mono = Compose(spec["monai"](keys, kinds))
    fwd = mono(C.fresh(loaded))
    to_label = argmax_label if prob else (lambda x: C.to_numpy(x)[0])
    monai_nearest_interp = not prob
    ours_mode = "linear" if prob else ("label" if spec["coarse"] else "nearest")

    def s(pred: Any) -> str:
        return C.score(to_label(pred), truth, classes)

    # 1) the label mapped forward by the MONAI pipeline itself
    fwd_monai = Invertd(key, transform=mono, orig_keys=key, nearest_interp=monai_nearest_interp)(dict(fwd))[key]
    fwd_ours = SpaceInvertd(key, mode=ours_mode)(dict(fwd))[key]

    # 1b) MONAI done carefully: centre-consistent "nearest-exact" forward (Resized/Zoomd only) and
    #     Invertd(nearest_interp=False), which inverts with the recorded mode instead of torch "nearest"
    exact = "n/a"
    tables = {type(t).__name__ for t in mono.transforms}
    if not prob and not spec["coarse"] and tables & {"Resized", "Zoomd"} and "Spacingd" not in tables:
        kinds_exact = {**kinds, **{("monai", t, key): "nearest-exact" for t in ("Resized", "Zoomd")}}
        mono_exact = Compose(spec["monai"](keys, kinds_exact))
        fwd_exact = mono_exact(C.fresh(loaded))
        exact = s(Invertd(key, transform=mono_exact, orig_keys=key, nearest_interp=False)(dict(fwd_exact))[key])

    # 2) the ideal prediction on MONAI's working grid
    working = fwd["image"]
    if prob:
        ideal = C.ideal_probabilities(working, native, truth, n_classes)
        vs_ideal = "-"
    else:
        ideal = C.ideal_prediction(working, native, truth)
        vs_ideal = str(C.wrong(fwd[key], ideal))
    data = {**fwd, "pred": ideal}
    ideal_monai = Invertd("pred", transform=mono, orig_keys="image", nearest_interp=monai_nearest_interp)(dict(data))["pred"]
    ideal_ours = SpaceInvertd("pred", orig_keys="image", mode=ours_mode)(dict(data))["pred"]

    # 3) our own equivalent pipeline, forward and back
    label_mode = "label" if spec["coarse"] else "nearest"
    ours = Compose(spec["ours"](keys, kinds, label_mode))(C.fresh(loaded))
    ours_back = SpaceInvertd(key, mode=ours_mode)(ours)[key]
    for name, out in (("Invertd", fwd_monai), ("SpaceInvertd", fwd_ours), ("ours", ours_back)):
        if tuple(out.shape[1:]) != truth.shape:
            print(f"WARNING: {spec['name']}: {name} returned shape {tuple(out.shape)}", file=sys.stderr)

    what = ""
    if spec["coarse"]:
        what = " (probabilities: bilinear / linear)" if prob else " (hard labels: nearest / label)"
    row = [
        spec["name"] + what,
        spec["grid"] + " -> " + "x".join(str(n) for n in working.shape[1:]),
        s(fwd_monai),
        exact,
        s(fwd_ours),
        s(ours_back),
        s(ideal_monai),
        s(ideal_ours),
        vs_ideal,
    ]
    if case["design"]:
        row += [
            BASELINE_FWD.get(spec["name"], "") if not prob else "-",
            (BASELINE_IDEAL.get(spec["name"], "") + " / " + BASELINE_MONAI_VS_IDEAL.get(spec["name"], "")).strip(" /") if not prob else "-",
        ]
    return row


def run_case(case: dict[str, Any], report: C.Report) -> None:
    n_classes = len(case["classes"]) + 1
    loaded = load_case(case, n_classes)
    native = Space.from_metatensor(loaded["image"])
    headers = [
        "pipeline",
        "working grid -> MONAI shape",
        "fwd label: MONAI Invertd",
        "fwd label: MONAI nearest-exact + Invertd(nearest_interp=False)",
        "fwd label: SpaceInvertd",
        "ours fwd+back",
        "ideal pred: MONAI Invertd",
        "ideal pred: SpaceInvertd",
        "MONAI fwd label vs ideal (working voxels)",
    ]
    if case["design"]:
        headers += ["design §7: MONAI fwd label", "design §7: ideal Invertd wrong / fwd vs ideal"]
    rows = []
    for spec in pipelines(case):
        t0 = time.perf_counter()
        rows.append(measure(case, spec, loaded, native, prob=False))
        if spec["coarse"]:
            rows.append(measure(case, spec, loaded, native, prob=True))
        print(f"  [{spec['name']}] {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    report.add(f"### {case['title']}")
    report.add("")
    report.add(C.md_table(headers, rows))
    report.add("")


def main() -> None:
    args = C.parse_args(__doc__.splitlines()[0])
    t_start = time.perf_counter()
    report = C.Report()
    report.add("## Label round trips through MONAI pipelines (docs/design.md §7), MONAI Invertd vs ours")
    report.add("")
    for line in C.machine_lines():
        report.add(line)
    report.add(
        "- cells: wrong native voxels / mean foreground Dice against the native label (whole native grid); "
        "'fwd label' = label mapped forward by the MONAI pipeline itself; 'ideal pred' = native label sampled at "
        "MONAI's working voxel centres; 'ours fwd+back' = same geometry with SpaceCropd/SpaceResampled + SpaceInvertd"
    )
    report.add(
        "- modes: finer grids nearest everywhere (MONAI `Invertd(nearest_interp=True)`); coarse hard labels MONAI "
        "nearest vs ours `mode=\"label\"`; coarse probabilities (one-hot) MONAI `nearest_interp=False` vs ours "
        "`mode=\"linear\"`, then argmax"
    )
    report.add("")
    with tempfile.TemporaryDirectory(prefix="spacetx_acc_") as folder:
        cases = [small_case(folder)] + ([] if args.quick else [large_case(folder)])
        for case in cases:
            run_case(case, report)
    report.add(f"benchmark wall time: {time.perf_counter() - t_start:.0f} s")
    report.write(args.markdown)


if __name__ == "__main__":
    main()
