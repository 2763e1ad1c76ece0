"""The tutorials and the main job run end to end (small sizes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

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
