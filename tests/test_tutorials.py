"""The tutorials, the main job and the ``check`` command run end to end (small sizes)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def _load(filename: str):
    name = "tutorial_" + Path(filename).stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TUTORIALS / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_01_seed_comparison(tmp_path, capsys):
    result = _load("01_seed_comparison.py").main(tmp_path, small=True)
    ours = result["methods"]["monai-spacetx"]
    assert ours["status"] == "ok"
    assert ours["keypoint_error_px"] < 1e-9
    assert ours["wrong_pixels"] == 0
    # the peers really ran (the test environment installs them) and drift
    for name, r in result["methods"].items():
        assert r["status"] == "ok", (name, r["status"])
    assert result["methods"]["torch F.interpolate"]["wrong_pixels"] > 0
    assert result["methods"]["MONAI SpatialCropd+Resized+Invertd"]["wrong_pixels"] > 0
    assert Path(result["figure"]).stat().st_size > 0
    out = capsys.readouterr().out
    assert "keypoint error (px)" in out and "monai-spacetx" in out


def test_01_reports_a_missing_peer_as_skipped(monkeypatch):
    tutorial = _load("01_seed_comparison.py")
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # import SimpleITK -> ImportError
    r = tutorial.run_method("SimpleITK", tutorial.create_test_image())
    assert r["status"].startswith("skipped") and r["keypoint_error_px"] is None


def test_02_saved_outputs_overlay_the_original(tmp_path):
    result = _load("02_ct_inference_roundtrip.py").main(tmp_path, small=True)
    original = nib.load(result["scan"])
    assert len(nib.aff2axcodes(original.affine)) == 3
    for per_method in result["grids"].values():
        for method, r in per_method.items():
            assert r["overlays"], method
            for saved in r["saved"].values():
                assert saved["shape"] == original.shape
                assert saved["affine_max_diff"] < 1e-5
        assert per_method["monai-spacetx"]["wrong_mask"] <= per_method["MONAI"]["wrong_mask"]
    files = sorted(p.name for p in tmp_path.glob("*_spacetx_*.nii.gz"))
    assert files, "SaveImaged wrote nothing"
    for name in files:
        saved = nib.load(str(tmp_path / name))
        assert saved.shape == original.shape
        np.testing.assert_allclose(saved.affine, original.affine, atol=1e-5)


def test_03_landmarks(tmp_path):
    result = _load("03_landmarks.py").main(tmp_path, small=True)
    assert result["roundtrip_max_mm"] < 1e-6
    ours = result["mapped"]["monai-spacetx (SpaceInvertd)"]
    naive = result["mapped"]["naive scale + offset"]
    # the detector's own (interpolation) error is all that is left after mapping back
    assert ours["max_mm"] < naive["max_mm"]
    assert ours["max_mm"] < 0.1


def test_04_bundle(tmp_path):
    result = _load("04_run_bundle.py").main(tmp_path, small=True)
    assert result["saved_shape"] == result["original_shape"]
    assert result["affine_max_diff"] < 1e-5


def test_main_job(tmp_path, capsys):
    results = _load("main.py").main(tmp_path, small=True)
    assert set(results) == {"01_seed_comparison.py", "02_ct_inference_roundtrip.py"}
    out = capsys.readouterr().out
    assert "summary" in out and "wrong (mask)" in out and "wrong mask pixels" in out


# ----------------------------------------------------------------------------- check command
@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    shape = (24, 20, 12)
    angle = 0.3
    c, s = np.cos(angle), np.sin(angle)
    direction = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    affine = np.eye(4)
    affine[:3, :3] = direction * np.array([1.2, 1.0, 2.5])
    affine[:3, 3] = (-14.0, 8.0, 30.0)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1)
    body = (((grid - (11.6, 9.3, 5.7)) / (7.2, 6.1, 3.9)) ** 2).sum(-1) <= 1
    core = (((grid - (13.0, 8.0, 6.0)) / (2.6, 2.9, 1.7)) ** 2).sum(-1) <= 1
    label = body.astype(np.uint8) + (core & body).astype(np.uint8)
    image = (label * 100.0 + np.random.default_rng(0).normal(0, 3, shape)).astype(np.float32)
    nib.save(nib.Nifti1Image(image, affine), str(folder / "image.nii.gz"))
    nib.save(nib.Nifti1Image(label, affine), str(folder / "label.nii.gz"))
    points = np.array([[11.3, 9.2, 5.5], [6.0, 7.5, 4.0], [16.2, 12.0, 7.7]]) @ affine[:3, :3].T + affine[:3, 3]
    (folder / "points.csv").write_text("x,y,z\n" + "\n".join(",".join(f"{v:.6f}" for v in p) for p in points) + "\n")
    (folder / "points.json").write_text(json.dumps({"landmarks": points.tolist()}))
    return folder, label


def test_check_prints_both_pipelines(case, capsys):
    from monai_spacetx import check

    folder, _ = case
    argv = [str(folder / "image.nii.gz"), "--label", str(folder / "label.nii.gz"), "--landmarks", str(folder / "points.csv"),
            "--crop-foreground", "50", "--margin", "2", "--size", "40", "36", "30"]
    assert check.main(argv) == 0
    out = capsys.readouterr().out
    assert "monai-spacetx" in out and "MONAI native" in out
    assert "SpaceCropd + SpaceResampled + SpaceInvertd" in out and "CropForegroundd + Resized + Invertd" in out
    assert "wrong label voxels" in out and "landmark error max (mm)" in out


def test_check_numbers_on_a_finer_grid(case):
    from monai_spacetx.check import check

    folder, label = case
    report = check(folder / "image.nii.gz", label=folder / "label.nii.gz", landmarks=folder / "points.json",
                   roi=(2, 1, 0, 22, 19, 12), spacing=(0.6, 0.5, 1.25))
    ours, theirs = report["results"]["monai-spacetx"], report["results"]["MONAI"]
    assert ours["native_shape"] == label.shape == theirs["native_shape"]
    assert ours["working_shape"] == theirs["working_shape"]
    outside_roi = np.count_nonzero(label) - np.count_nonzero(label[2:22, 1:19, :])
    assert ours["wrong"] == outside_roi  # exact inside the crop
    assert ours["landmark_mm"].max() < 1e-6
    assert theirs["wrong"] >= ours["wrong"]


def test_check_stand_in_label_and_bad_input(case, capsys):
    from monai_spacetx import check

    folder, _ = case
    image = str(folder / "image.nii.gz")
    assert check.main([image, "--crop-foreground", "50", "--spacing", "1.0"]) == 0
    assert "stand-in: image > 50" in capsys.readouterr().out
    assert check.main([image, "--size", "10", "10"]) == 2
    assert "--size: expected 3 values" in capsys.readouterr().err
    assert check.main([image, "--roi", "5", "5", "5", "5", "9", "9", "--size", "8", "8", "8"]) == 2
    assert "empty or inverted" in capsys.readouterr().err
    assert check.main([image, "--margin", "3", "--size", "8", "8", "8"]) == 2
    assert check.main([str(folder / "missing.nii.gz"), "--size", "8", "8", "8"]) == 2
    bad = folder / "bad.csv"
    bad.write_text("1,2\n3,4\n")
    assert check.main([image, "--landmarks", str(bad), "--size", "8", "8", "8"]) == 2
    assert "N x 3" in capsys.readouterr().err


def test_check_add_parser_wires_into_a_cli():
    import argparse

    from monai_spacetx import check

    parser = argparse.ArgumentParser(prog="monai_spacetx")
    check.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check", "x.nii.gz", "--roi", "0", "0", "0", "4", "4", "4", "--spacing", "1", "1", "2"])
    assert args.func is check.run and args.roi == [0, 0, 0, 4, 4, 4] and args.spacing == [1.0, 1.0, 2.0]
