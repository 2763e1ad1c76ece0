"""The tutorials (lessons) and the main job run end to end, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"


@pytest.fixture
def lessons(monkeypatch):
    """The main job's module (its ``load_lesson`` imports a lesson by file name)."""
    monkeypatch.syspath_prepend(str(TUTORIALS))  # what `python tutorials/x.py` does for the lessons
    import importlib.util

    spec = importlib.util.spec_from_file_location("tutorials_main", TUTORIALS / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_main_job_runs_without_pytest_or_test_helpers(tmp_path):
    """The README's main job, in a fresh process where `import pytest` fails (a user's install has no pytest)."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "pytest.py").write_text("raise ImportError('pytest is not installed for users')\n")
    out = tmp_path / "outputs"
    done = subprocess.run(
        [sys.executable, str(TUTORIALS / "main.py"), "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(blocker)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for filename, _ in __import__("runpy").run_path(str(TUTORIALS / "main.py"))["LESSONS"]:
        assert f"{filename}:" in done.stdout
    assert "label round trip: 0 wrong voxels inside the working grid" in done.stdout
    assert (out / "anatomical_quickstart.nii.gz").is_file() and (out / "02_epi_inference_roundtrip.png").is_file()


def test_quickstart_is_short_and_exact(lessons, tmp_path, capsys):
    source = (TUTORIALS / "00_quickstart.py").read_text()
    assert len(source.splitlines()) < 60
    for step in ("SpaceCropd(", "SpaceResampled(", "SpaceInvertd(", "SaveImaged("):
        assert step in source
    result = lessons.load_lesson("00_quickstart.py").main(tmp_path)
    score = result["score"]
    assert score.wrong_inside == 0 and score.dice_inside == 1.0
    assert score.wrong_outside > 0  # the crop threw those away: reported apart
    original = nib.load(str(lessons.load_lesson("00_quickstart.py").example_scan("anatomical.nii")))
    assert result["shape"] == original.shape and result["affine_diff"] < 1e-6
    assert "0 wrong voxels inside the working grid" in capsys.readouterr().out


def test_02_saved_outputs_overlay_the_scan(lessons, tmp_path):
    result = lessons.load_lesson("02_epi_inference_roundtrip.py").main(tmp_path)
    original = nib.load(result["scan"])
    for name, r in result["grids"].items():
        for saved in r["saved"].values():
            assert saved["shape"] == original.shape and saved["affine_max_diff"] < 1e-5, name
    exact, coarse = result["grids"].values()
    assert exact["wrong_mask"] == 0 and exact["wrong_prob"] == 0  # every native centre is a working centre
    assert 0 < coarse["wrong_prob"] < coarse["wrong_mask"]  # probabilities back beat the mask back
    assert Path(result["figure"]).stat().st_size > 0
    for path in tmp_path.glob("*_mask_*.nii.gz"):
        np.testing.assert_allclose(nib.load(str(path)).affine, original.affine, atol=1e-5)


def test_03_landmarks(lessons, tmp_path):
    result = lessons.load_lesson("03_landmarks.py").main(tmp_path)
    assert result["roundtrip_max_mm"] < 1e-6
    ours = result["mapped"]["monai-spacetx (SpaceInvertd)"]
    naive = result["mapped"]["naive scale + offset"]
    assert ours["max_mm"] < naive["max_mm"]  # the detector's own error is all that is left
    assert ours["max_mm"] < 0.1


def test_04_bundle(lessons, tmp_path):
    """The saved label against the bundle recomputed outside the package: MONAI's CropForegroundd and Resized
    give the working grid, the image and the stand-in network's probabilities are sampled there and back by
    brute force from the raw affines (linear), then thresholded at 0.5 as AsDiscreted does."""
    import warnings

    from monai.transforms import Compose, CropForegroundd, LoadImaged, Resized

    import oracles

    result = lessons.load_lesson("04_run_bundle.py").main(tmp_path)
    assert result["saved_shape"] == result["original_shape"]
    assert result["affine_max_diff"] < 1e-5
    config = (Path(__file__).resolve().parents[1] / "tutorials" / "04_bundle_config.yaml").read_text()
    assert "threshold: 300.0" in config and "prob_width: 40.0" in config and "margin: 4" in config and "working_size: [96, 96, 48]" in config
    scan = str(tmp_path / "epi_volume0.nii.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crop = Compose([LoadImaged("image", ensure_channel_first=True, image_only=True),
                        CropForegroundd("image", source_key="image", select_fn=lambda x: x > 300.0, margin=4)])({"image": scan})
        working = Resized("image", (96, 96, 48))(dict(crop))["image"].affine.numpy()  # MONAI's grid: field-of-view edges kept
    original, saved = nib.load(scan), nib.load(result["saved"])
    values = oracles.interpolate(crop["image"][0].numpy().astype(np.float64), crop["image"].affine.numpy(), working, (96, 96, 48), 1, "border")
    prob = oracles.interpolate(1.0 / (1.0 + np.exp(-(values - 300.0) / 40.0)), working, original.affine, original.shape, 1, "zeros")
    labels = np.asarray(saved.dataobj)
    np.testing.assert_allclose(saved.affine, original.affine, rtol=0, atol=1e-5)
    clear = np.abs(prob - 0.5) > 1e-4  # a probability within round-off of the threshold may go either way
    assert clear.mean() > 0.999 and np.array_equal(labels[clear], (prob >= 0.5)[clear].astype(labels.dtype))
    assert result["wrong_voxels"] == int((labels != (np.asarray(original.dataobj) >= 300.0)).sum()) > 0  # the lesson's own count


def test_05_training_augmentation(lessons, tmp_path):
    source = (TUTORIALS / "05_training_augmentation.py").read_text()
    assert "import pytest" not in source and "from pytest" not in source
    result = lessons.load_lesson("05_training_augmentation.py").main(tmp_path)
    assert result["label_values"] == [0, 1] and result["label_dtype"] == torch.uint8  # nearest kept, dtype kept
    assert result["interpolations"] == {"monai-spacetx": 2, "MONAI": 0}  # one resample per key, by our engine
    assert result["landmark_error_voxels"] < 1e-6
    assert result["monai_label_values"] > 2  # MONAI issue #6850: its lazy flush interpolated the label
    assert result["monai_interpolations"]["MONAI"] == 2


def test_lessons_use_the_one_sample_loader():
    for path in TUTORIALS.glob("*.py"):
        text = path.read_text()
        assert "from nibabel.testing" not in text and "import nibabel.testing" not in text, path.name
        assert "small" not in text, f"{path.name}: no size switches for tests in a lesson"
