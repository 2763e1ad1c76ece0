"""Model Zoo inference configs with only ``_target_`` swapped: parsed, run eager and lazy, saved.

``tests/data/model_zoo/*.yaml`` hold the network, preprocessing, inferer and postprocessing sections
of six Model Zoo bundles (transcribed from their ``configs/inference.json``; each file's header
names the commit). Each is parsed by ``monai.bundle.ConfigParser`` with MONAI's spatial transforms
renamed to ours (nothing else changed but the output folder, and ``ITKReader`` read as
``NibabelReader`` where the ``itk`` package is not installed), run on a synthetic scan written to
disk and read by the config's own ``LoadImaged``, with a random-weight tiny UNet as the network; the saved
prediction must lie on the scan's grid (shape and affine of the file). Where the answer is known,
the values are checked too: a thresholding "network" whose ideal output on the scan can be computed
directly, compared with the mapped-back label voxel for voxel.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.networks.nets import UNet
from monai.transforms import Compose

DATA = Path(__file__).parent / "data" / "model_zoo"
CONFIGS = sorted(p.stem for p in DATA.glob("*.yaml"))

#: MONAI transform -> its counterpart; the whole migration of a config
SWAP = {
    "Spacingd": "monai_spacetx.SpaceSpacingd",
    "Resized": "monai_spacetx.SpaceResized",
    "Zoomd": "monai_spacetx.SpaceZoomd",
    "SpatialCropd": "monai_spacetx.SpaceCropd",
    "CropForegroundd": "monai_spacetx.SpaceCropForegroundd",
    "Invertd": "monai_spacetx.SpaceInvertd",
}


def _swap(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (SWAP.get(v, v) if k == "_target_" else _swap(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_swap(v) for v in node]
    return node


def _targets(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["_target_"]] if "_target_" in node else []
        return own + [t for v in node.values() for t in _targets(v)]
    if isinstance(node, list):
        return [t for v in node for t in _targets(v)]
    return []


def _without_itk(node: Any) -> Any:
    """``reader: ITKReader`` as ``NibabelReader`` when ``itk`` is missing (both give MONAI's RAS affine for NIfTI)."""
    if isinstance(node, dict):
        return {k: ("NibabelReader" if k == "reader" and v == "ITKReader" else _without_itk(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_itk(v) for v in node]
    return node


def _parser(name: str, output_dir: Path) -> ConfigParser:
    config = ConfigParser.load_config_file(str(DATA / f"{name}.yaml"))
    if importlib.util.find_spec("itk") is None:
        config = _without_itk(config)
    swapped = _swap(config)
    before, after = _targets(config), _targets(swapped)
    assert [t for t in before if t not in SWAP] == [t for t in after if not t.startswith("monai_spacetx.")]
    assert sum(t.startswith("monai_spacetx.") for t in after) == sum(t in SWAP for t in before) >= 2
    swapped["output_dir"] = str(output_dir)
    parser = ConfigParser(swapped)
    parser.parse()
    return parser


def _out_channels(parser: ConfigParser) -> int:
    return int(parser.get_parsed_content("network_def#out_channels"))


def _tiny_unet(spatial_dims: int, in_channels: int, out_channels: int) -> torch.nn.Module:
    torch.manual_seed(0)
    net = UNet(spatial_dims, in_channels, out_channels, channels=(4, 8), strides=(2,), num_res_units=0)
    return net.eval()


class Threshold(torch.nn.Module):
    """A "network" with a known answer: class 1 where the (preprocessed) input exceeds ``level``."""

    def __init__(self, level: float, classes: int = 2) -> None:
        super().__init__()
        self.level, self.classes = level, classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], self.classes, *x.shape[2:], dtype=x.dtype)
        logits[:, 1] = 20.0 * (x.mean(dim=1) - self.level)
        return logits


class Window(torch.nn.Module):
    """Class 1 above a fixed fraction of the input's own range: for preprocessing that maps intensities by an
    increasing affine map fitted to the image (min-max scaling, z-scores), where no fixed level exists."""

    def __init__(self, fraction: float, classes: int) -> None:
        super().__init__()
        self.fraction, self.classes = fraction, classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, high = x.min(), x.max()
        logits = torch.zeros(x.shape[0], self.classes, *x.shape[2:], dtype=x.dtype)
        logits[:, 1] = 20.0 * (x.mean(dim=1) - (low + (high - low) * self.fraction)) / (high - low)
        return logits


def _scan(path: Path, spacing=(1.5, 1.5, 2.0), shape=(40, 36, 20), radius=9.0, body_hu: float = 0.0) -> np.ndarray:
    """A CT-like scan in LPS-flipped axes (so Orientationd flips it): air, a body at 0 HU, a 150 HU sphere.

    Returns the sphere's mask on the native grid (the ideal label)."""
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    affine[:3, 3] = (30.0, -12.0, 45.5)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).astype(np.float64)
    mm = idx * np.array(spacing)
    centre = (np.array(shape) - 1) * np.array(spacing) / 2 + np.array([2.3, -1.7, 0.9])
    distance = np.linalg.norm(mm - centre, axis=-1)
    body = np.linalg.norm((mm - centre)[..., :2], axis=-1) < min(shape[0], shape[1]) * spacing[0] * 0.45
    hu = np.where(body, body_hu, -1000.0)
    hu = np.where(distance < radius, 150.0, hu).astype(np.float32)
    nib.save(nib.Nifti1Image(hu, affine), str(path))
    return distance


def _run(parser: ConfigParser, path: Path, net: torch.nn.Module, lazy: bool) -> dict:
    pre = parser.get_parsed_content("preprocessing")
    if lazy:
        pre = Compose(pre.transforms, lazy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = pre({"image": str(path)})
        with torch.no_grad():
            data["pred"] = parser.get_parsed_content("inferer")(data["image"][None], net)[0]
        return parser.get_parsed_content("postprocessing")(data)


def _saved(output_dir: Path, stem: str, ext: str = ".nii.gz") -> Path:
    found = list(output_dir.rglob(f"{stem}_*{ext}"))
    assert len(found) == 1, list(output_dir.rglob("*"))
    return found[0]


# ----------------------------------------------------------------------------- every 3-D config: random weights, saved on the scan's grid
@pytest.mark.parametrize("name", [c for c in CONFIGS if c != "endoscopic_tool_segmentation"])
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_config_runs_and_saves_on_the_scan_grid(name, lazy, tmp_path):
    scan = tmp_path / "case0.nii.gz"
    _scan(scan)
    parser = _parser(name, tmp_path / "eval")
    out = _run(parser, scan, _tiny_unet(3, 1, _out_channels(parser)), lazy)
    native = nib.load(str(scan))
    assert tuple(out["pred"].shape) == (1, *native.shape)
    np.testing.assert_allclose(out["pred"].affine.numpy(), native.affine, rtol=0, atol=1e-5)
    saved = nib.load(str(_saved(tmp_path / "eval", "case0")))
    assert saved.shape == native.shape
    np.testing.assert_allclose(saved.affine, native.affine, rtol=0, atol=1e-5)
    labels = np.unique(np.asarray(saved.dataobj))
    assert set(labels.tolist()) <= set(range(_out_channels(parser)))


# ----------------------------------------------------------------------------- values where the answer is known
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_spleen_config_maps_back_exactly_when_the_grid_is_the_scans(lazy, tmp_path):
    """Scan spacing = the config's pixdim: Orientationd flips, Spacingd keeps the grid, so the
    mapped-back label must be the threshold of the scan itself, every voxel (HU > 53.5: the
    config's scaling -57..164 -> 0..1 crossing 0.5)."""
    scan = tmp_path / "case0.nii.gz"
    _scan(scan, spacing=(1.5, 1.5, 2.0))
    parser = _parser("spleen_ct_segmentation", tmp_path / "eval")
    out = _run(parser, scan, Threshold(0.5), lazy)
    expected = np.asarray(nib.load(str(scan)).dataobj) > 53.5
    saved = np.asarray(nib.load(str(_saved(tmp_path / "eval", "case0"))).dataobj)
    np.testing.assert_array_equal(saved, expected.astype(saved.dtype))
    np.testing.assert_array_equal(out["pred"][0].numpy(), expected)


#: config -> (the working voxel in mm, the "network" that finds the 150 HU sphere in its preprocessed input)
VALUE_CHECKS = {
    # the config's intensity window, mapped: class 1 above 75 HU (between the body's 0 and the sphere's 150)
    "spleen_ct_segmentation": ((1.5, 1.5, 2.0), lambda classes: Threshold((75 + 57) / 221, classes)),
    "pediatric_abdominal_ct_segmentation": ((1.5, 1.5, 3.0), lambda classes: Threshold((75 + 250) / 650, classes)),
    "swin_unetr_btcv_segmentation": ((1.5, 1.5, 2.0), lambda classes: Threshold((75 + 175) / 425, classes)),
    # min-max and z-score preprocessing: 95 HU (between a 40 HU body and the sphere) is 1095/1150 of the range
    "prostate_mri_anatomy": ((0.5, 0.5, 0.5), lambda classes: Window(1095 / 1150, classes)),
    "wholeBody_ct_segmentation": ((3.0, 3.0, 3.0), lambda classes: Window(1095 / 1150, classes)),
}


@pytest.mark.parametrize("name", sorted(VALUE_CHECKS))
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_config_maps_a_resampled_prediction_back(name, lazy, tmp_path):
    """Every 3-D config on a 1 mm scan: the sphere comes back where it is. Voxels farther than one working
    voxel diagonal from its surface are exact; the rest is the working grid's limit."""
    scan = tmp_path / "case0.nii.gz"
    working, network = VALUE_CHECKS[name]
    distance = _scan(scan, spacing=(1.0, 1.0, 1.0), shape=(44, 40, 36), radius=9.0, body_hu=0.0 if isinstance(network(2), Threshold) else 40.0)
    parser = _parser(name, tmp_path / "eval")
    out = _run(parser, scan, network(_out_channels(parser)), lazy)
    back = out["pred"][0].numpy().astype(bool)
    truth = distance < 9.0
    far = np.abs(distance - 9.0) > np.linalg.norm(working)
    np.testing.assert_array_equal(back[far], truth[far])
    dice = 2 * np.logical_and(back, truth).sum() / (back.sum() + truth.sum())
    assert dice > 0.9
    saved = nib.load(str(_saved(tmp_path / "eval", "case0")))
    np.testing.assert_array_equal(np.asarray(saved.dataobj).astype(bool), back)


# ----------------------------------------------------------------------------- the 2-D RGB config (Resized's default "area")
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_endoscopic_config_on_a_png(lazy, tmp_path):
    from PIL import Image

    height, width = 90, 120
    rgb = np.full((height, width, 3), 40, np.uint8)
    rgb[20:61, 30:95] = (200, 190, 180)  # the "tool"
    rgb += np.random.default_rng(0).integers(0, 10, rgb.shape, dtype=np.uint8)
    png = tmp_path / "frame0.png"
    Image.fromarray(rgb).save(png)
    parser = _parser("endoscopic_tool_segmentation", tmp_path / "eval")
    # random weights: the prediction comes back on the frame's grid
    out = _run(parser, png, _tiny_unet(2, 3, _out_channels(parser)), lazy)
    assert tuple(out["pred"].shape) == (1, width, height)  # MONAI's PIL reader: (W, H)
    saved = np.asarray(Image.open(_saved(tmp_path / "eval", "frame0", ".png")))
    assert saved.shape[:2] == (height, width)
    assert set(np.unique(saved).tolist()) <= {0, 255}
    # a thresholding network: the tool comes back where it is (exact away from its border)
    out = _run(_parser("endoscopic_tool_segmentation", tmp_path / "eval2"), png, Threshold(0.5), lazy)
    back = out["pred"][0].numpy().T.astype(bool)
    truth = np.zeros((height, width), bool)
    truth[20:61, 30:95] = True
    rows, cols = np.ogrid[:height, :width]
    border = ((np.abs(rows - 19.5) < 2) | (np.abs(rows - 60.5) < 2)) | ((np.abs(cols - 29.5) < 2) | (np.abs(cols - 94.5) < 2))
    np.testing.assert_array_equal(back[~border], truth[~border])
