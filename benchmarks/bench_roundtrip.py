"""Full inference round trip, ours vs MONAI's own transforms, side by side: time and accuracy.

    load (LoadImaged, NIfTI on disk) -> crop to the body's foreground -> resample to the
    network's working spacing -> stand-in model -> map the prediction (and landmarks) back

- ours:  ``SpaceCropForegroundd(source_key=image, select_fn, margin) -> SpaceResampled(pixdim) -> model
  -> SpaceInvertd`` (one resample back; landmarks travel through ``point_keys``);
- MONAI: ``CropForegroundd(same box rule) -> Spacingd(pixdim) -> model -> Invertd``. MONAI has
  no landmark path through ``Invertd``, so the landmarks are mapped by hand through the
  MetaTensor affines as a MONAI user would (index -> world with the loaded affine, world ->
  working index with the transformed image's affine, and back with ``original_affine``).

The stand-in model is perfect, so every error left is the pipeline's: it returns the native
label sampled at the working grid's voxel centres (hard labels), or the one-hot label
sampled linearly (probabilities), and finds each landmark as the weighted centroid of its
bright blob in the *working image* (so a pipeline whose resampled pixels disagree with its
affine shows up in the detected-landmark error). The model itself is not timed.

"forward" times crop + resample (+ the landmarks); "invert" times mapping the prediction and
landmarks back; loading is common to both and reported once. Times are medians over
``--repeats`` runs after one warm-up, with ``torch.set_num_threads(2)``.

Run: ``python benchmarks/bench_roundtrip.py [--quick] [--repeats N] [--markdown PATH]``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import _common as C  # the shared harness beside this script

torch = C.setup_torch()

from monai.transforms import Compose, CropForegroundd, Invertd, Spacingd  # noqa: E402

from monai_spacetx import Space, SpaceCropForegroundd, SpaceInvertd, SpaceResampled  # noqa: E402

MARGIN = 4
N_CLASSES = 4
FOREGROUND_HU = -500.0  # the body, not the air


def select_body(x: Any) -> Any:
    return x > FOREGROUND_HU


def scenarios(quick: bool) -> list[dict[str, Any]]:
    # working spacings in mm at full size; --quick keeps the same ratios to the native spacing
    scale = np.asarray(C.case_geometry(quick)[1]) / np.asarray(C.FULL_SPACING)
    fine = tuple(float(v) for v in np.round(np.array([0.6, 0.6, 1.5]) * scale, 6))
    coarse = tuple(float(v) for v in np.round(np.array([1.5, 1.5, 3.0]) * scale, 6))
    return [
        {"name": f"finer grid {fine} mm, hard labels", "pixdim": fine, "pred": "hard", "ours": "nearest", "monai_nearest": True},
        {"name": f"coarser grid {coarse} mm, hard labels", "pixdim": coarse, "pred": "hard", "ours": "label", "monai_nearest": True},
        {"name": f"coarser grid {coarse} mm, {N_CLASSES}-class probabilities", "pixdim": coarse, "pred": "prob", "ours": "linear", "monai_nearest": False},
    ]


def model(image: Any, native: Space, label: np.ndarray, kind: str) -> Any:
    if kind == "hard":
        return C.ideal_prediction(image, native, label)
    return C.ideal_probabilities(image, native, label, N_CLASSES)


def as_label(pred: Any, kind: str) -> np.ndarray:
    arr = C.to_numpy(pred)
    return arr[0] if kind == "hard" else arr.argmax(0)


# ----------------------------------------------------------------------------- ours
def run_ours(loaded: dict, case: dict, native: Space, sc: dict) -> dict[str, Any]:
    data = C.fresh(loaded)
    data["kp"] = case["points"].copy()
    forward = Compose(
        [
            SpaceCropForegroundd("image", source_key="image", select_fn=select_body, margin=MARGIN, point_keys="kp"),
            SpaceResampled("image", pixdim=sc["pixdim"], mode="linear", point_keys="kp"),
        ]
    )
    t_fwd, out = C.time_call(lambda: forward(data))
    working = out["image"]
    spacing = np.linalg.norm(working.affine.numpy()[:3, :3], axis=0)
    out["pred"] = model(working, native, case["lab"], sc["pred"])
    out["det"] = C.detect_landmarks(working, out["kp"], spacing, case["sigma_mm"])
    post = SpaceInvertd("pred", orig_keys="image", mode=sc["ours"], point_keys=("kp", "det"))
    t_inv, back = C.time_call(lambda: post(out))
    return {
        "fwd": t_fwd,
        "inv": t_inv,
        "shape": tuple(working.shape[1:]),
        "label": as_label(back["pred"], sc["pred"]),
        "affine": back["pred"].affine.numpy(),
        "kp": np.asarray(back["kp"]),
        "det": np.asarray(back["det"]),
    }


# ----------------------------------------------------------------------------- MONAI
def run_monai(loaded: dict, case: dict, native: Space, sc: dict) -> dict[str, Any]:
    data = C.fresh(loaded)
    forward = Compose(
        [
            CropForegroundd("image", source_key="image", select_fn=select_body, margin=MARGIN),
            Spacingd("image", pixdim=sc["pixdim"], mode="bilinear"),
        ]
    )
    points = case["points"].copy()

    def fwd() -> tuple[dict, np.ndarray]:
        # landmarks by hand: native index -> world (loaded affine) -> working index (new affine)
        world = C.index_to_world(points, data["image"].affine)
        out = forward(data)
        return out, C.world_to_index(world, out["image"].affine)

    t_fwd, (out, kp_work) = C.time_call(fwd)
    working = out["image"]
    spacing = np.linalg.norm(working.affine.numpy()[:3, :3], axis=0)
    out["pred"] = model(working, native, case["lab"], sc["pred"])
    det_work = C.detect_landmarks(working, kp_work, spacing, case["sigma_mm"])
    post = Invertd("pred", transform=forward, orig_keys="image", nearest_interp=sc["monai_nearest"])

    def inv() -> tuple[dict, np.ndarray, np.ndarray]:
        back = post(out)
        original = working.meta["original_affine"]
        kp = C.world_to_index(C.index_to_world(kp_work, working.affine), original)
        det = C.world_to_index(C.index_to_world(det_work, working.affine), original)
        return back, kp, det

    t_inv, (back, kp, det) = C.time_call(inv)
    return {
        "fwd": t_fwd,
        "inv": t_inv,
        "shape": tuple(working.shape[1:]),
        "label": as_label(back["pred"], sc["pred"]),
        "affine": C.to_numpy(back["pred"].affine),
        "kp": kp,
        "det": det,
    }


def main() -> None:
    args = C.parse_args(__doc__.splitlines()[0])
    repeats = args.repeats or (3 if args.quick else 5)
    t_start = time.perf_counter()
    case = C.write_case(args.quick)
    report = C.Report()

    load_times = []
    for _ in range(repeats):
        t, loaded = C.time_call(lambda: C.load(case, ("image",)))
        load_times.append(t)
    native = Space.from_metatensor(loaded["image"])
    truth, points = case["lab"], case["points"]
    # the detector's own error on the native image: the floor any pipeline can reach
    det_native = C.detect_landmarks(loaded["image"], points, native.spacing, case["sigma_mm"])
    det_floor = C.point_error_mm(det_native, points, native.affine)

    report.add("## Inference round trip: ours vs MONAI (crop -> resample -> model -> invert)")
    report.add("")
    for line in C.machine_lines():
        report.add(line)
    report.add(
        f"- case: oblique (rotated about 2 axes) anisotropic CT-like volume {case['shape']} at "
        f"{tuple(round(s, 4) for s in case['spacing'])} mm, labels {{0 air, 1 body, 2 organ, 3 lesion}}, "
        f"{len(points)} landmarks; NIfTI on disk, read with LoadImaged (median load {C.fmt_s(C.median(load_times))} s, common to both)"
    )
    report.add(
        f"- crop: foreground (HU > {FOREGROUND_HU:g}) + margin {MARGIN}; ours `SpaceCropd`+`SpaceResampled`+`SpaceInvertd`, "
        "MONAI `CropForegroundd`+`Spacingd`+`Invertd`; times are medians of "
        f"{repeats} repeats after a warm-up, model not timed"
    )
    report.add(
        "- model stand-in is perfect (native label sampled at the working voxel centres / one-hot sampled linearly; "
        "landmarks = blob centroids found in the working image), so all errors are the pipeline's"
    )
    report.add(
        "- MONAI has no landmark path through `Invertd`: its landmarks are mapped by hand through the MetaTensor "
        "affines (native index -> world -> working index, and back via `original_affine`), as a MONAI user would"
    )
    report.add(f"- detector floor (detector run on the native image itself): mean {det_floor.mean():.3f} mm, max {det_floor.max():.3f} mm")
    report.add("")

    headers = [
        "scenario",
        "pipeline",
        "working shape",
        "forward s",
        "invert s",
        "total s",
        "MONAI/ours (total)",
        "wrong voxels",
        "Dice",
        "landmark err mm, carried (max)",
        "landmark err mm, detected (mean / max)",
    ]
    rows = []
    for sc in scenarios(args.quick):
        results: dict[str, dict] = {}
        for name, runner in (("ours", run_ours), ("MONAI", run_monai)):
            runner(loaded, case, native, sc)  # warm-up
            runs = [runner(loaded, case, native, sc) for _ in range(repeats)]
            last = runs[-1]
            results[name] = {
                **last,
                "fwd": C.median([r["fwd"] for r in runs]),
                "inv": C.median([r["inv"] for r in runs]),
                "total": C.median([r["fwd"] + r["inv"] for r in runs]),
            }
        for name in ("ours", "MONAI"):
            r = results[name]
            if r["label"].shape != truth.shape or not np.allclose(r["affine"], native.affine, atol=1e-4):
                print(f"WARNING: {name} output shape {r['label'].shape} / affine differs from native", file=sys.stderr)
            carried = C.point_error_mm(r["kp"], points, native.affine)
            detected = C.point_error_mm(r["det"], points, native.affine)
            ratio = f"{results['MONAI']['total'] / results['ours']['total']:.2f}x" if name == "ours" else "1"
            rows.append(
                [
                    sc["name"] if name == "ours" else "",
                    f"{name} ({sc['ours'] if name == 'ours' else ('nearest' if sc['monai_nearest'] else 'bilinear')})",
                    "x".join(str(n) for n in r["shape"]),
                    C.fmt_s(r["fwd"]),
                    C.fmt_s(r["inv"]),
                    C.fmt_s(r["total"]),
                    ratio,
                    C.wrong(r["label"], truth),
                    f"{C.dice(r['label'], truth, C.CLASSES):.4f}",
                    f"{carried.max():.1e}",
                    f"{detected.mean():.3f} / {detected.max():.3f}",
                ]
            )
        print(f"  [{sc['name']}] done ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr, flush=True)
    report.add(C.md_table(headers, rows))
    report.add("")
    report.add(
        "Wrong voxels and Dice (mean over classes 1-3) compare the mapped-back prediction (probabilities: argmax) "
        f"with the native label over the whole native grid ({int(np.prod(truth.shape))} voxels). "
        "MONAI/ours > 1 means ours is faster."
    )
    report.add(f"\nbenchmark wall time: {time.perf_counter() - t_start:.0f} s")
    report.write(args.markdown)


if __name__ == "__main__":
    main()
