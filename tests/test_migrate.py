"""``monai-spacetx migrate``: the Model Zoo configs and the tutorial bundle, renamed, parsed, run, checked.

Oracles: the rename table is written here by hand (the MONAI names the issue lists and the counterparts
the package documents), not read from the package; the migrated config is parsed and instantiated by
MONAI's own ``ConfigParser``; the round-trip numbers ``--check`` prints are recounted here with numpy
from the raw affines (the perfect prediction by brute-force nearest sampling, the working grid's field
of view by brute force), running each config's pipelines through ``ConfigParser`` directly.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import Compose, SaveImaged

from monai_spacetx.cli import main

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "tests" / "data" / "model_zoo"
TUTORIAL = ROOT / "tutorials" / "04_bundle_config.yaml"
CONFIGS = sorted(ZOO.glob("*.yaml")) + [ROOT / "tests" / "data" / "bundle_inference.yaml", TUTORIAL]

#: The rename, by hand: MONAI's class name -> ours (any spelling of MONAI's name resolves to these).
EXPECTED = {
    "Spacingd": "SpaceSpacingd",
    "Resized": "SpaceResized",
    "Zoomd": "SpaceZoomd",
    "SpatialCropd": "SpaceCropd",
    "CropForegroundd": "SpaceCropForegroundd",
    "Invertd": "SpaceInvertd",
}


def _migrate(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    status = main(["migrate", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def _nodes(node: Any, path: str = "") -> list[tuple[str, dict]]:
    """Every mapping with a ``_target_``, with its id (written here independently of the command)."""
    found = []
    if isinstance(node, dict):
        if "_target_" in node:
            found.append((path, node))
        for key, value in node.items():
            found += _nodes(value, f"{path}#{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _nodes(value, f"{path}#{index}")
    return found


def _without_targets(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_targets(v) for k, v in node.items() if k != "_target_"}
    if isinstance(node, list):
        return [_without_targets(v) for v in node]
    return node


def _load(path: Path) -> dict:
    return ConfigParser.load_config_file(str(path))


def _portable(source: Path, folder: Path) -> Path:
    """A copy of ``source`` with ``reader: ITKReader`` read as ``NibabelReader`` where ``itk`` is missing (both give RAS for NIfTI)."""
    text = source.read_text()
    if importlib.util.find_spec("itk") is None:
        text = text.replace("reader: ITKReader", "reader: NibabelReader")
    copy = folder / source.name
    copy.write_text(text)
    return copy


# ----------------------------------------------------------------------------- scans
def _write_scan(path: Path, affine: np.ndarray, shape: tuple[int, ...], radius: float = 8.0, sphere_hu: float = 150.0) -> None:
    """A CT-like scan: air, a body cylinder at 0 HU, a sphere at ``sphere_hu`` (world mm)."""
    index = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1)
    world = index @ affine[:3, :3].T + affine[:3, 3]
    centre = (np.array(shape) - 1) / 2 @ affine[:3, :3].T + affine[:3, 3] + np.array([1.3, -0.7, 0.4])
    offset = world - centre
    body = np.linalg.norm(offset[..., :2], axis=-1) < 0.42 * min(np.array(shape[:2]) * np.linalg.norm(affine[:3, :2], axis=0))
    hu = np.where(body, 0.0, -1000.0)
    hu = np.where(np.linalg.norm(offset, axis=-1) < radius, sphere_hu, hu).astype(np.float32)
    nib.save(nib.Nifti1Image(hu, affine), str(path))


def _oblique(spacing: tuple[float, float, float], angle: float = 0.25) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[-c, -s, 0.0], [s, -c, 0.0], [0.0, 0.0, 1.0]]) * np.array(spacing)
    affine[:3, 3] = (28.0, -9.0, 40.5)
    return affine


# ----------------------------------------------------------------------------- the rename itself
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_migrated_config_renames_exactly_the_counterparts_and_keeps_every_argument(config, tmp_path, capsys):
    out = tmp_path / f"migrated{config.suffix}"
    status, stdout, err = _migrate([str(config), "-o", str(out)], capsys)
    assert status == 0, err
    before, after = _load(config), _load(out)
    pairs = list(zip(_nodes(before), _nodes(after)))
    assert len(pairs) == len(_nodes(before)) == len(_nodes(after))
    renamed = 0
    for (where, old), (where_after, new) in pairs:
        assert where == where_after
        name = old["_target_"].rpartition(".")[2]
        if name in EXPECTED:
            assert new["_target_"] == f"monai_spacetx.{EXPECTED[name]}", where
            renamed += 1
        else:
            assert new["_target_"] == old["_target_"], where
    assert _without_targets(after) == _without_targets(before)  # every argument kept, with its value
    if config == TUTORIAL:
        assert renamed == 0 and "nothing to rename" in stdout and out.read_text() == config.read_text()
    else:
        assert renamed >= 2 and f"{renamed} transforms renamed" in stdout
    # in place: only the `_target_` lines changed, comments and layout kept
    changed = [line for line in difflib.ndiff(config.read_text().splitlines(), out.read_text().splitlines()) if line[:2] in ("- ", "+ ")]
    assert len(changed) == 2 * renamed and all("_target_" in line for line in changed)
    # the diff printed is the one between the files
    printed = [line for line in stdout.splitlines() if line[:1] in "-+" and line[:3] not in ("---", "+++") and "_target_" in line]
    assert len(printed) == 2 * renamed
    # MONAI's ConfigParser parses and instantiates what was written
    parser = ConfigParser(_load(_portable(out, tmp_path)))
    for section in ("preprocessing", "postprocessing"):
        if section in parser:
            transforms = parser.get_parsed_content(section)
            steps = transforms.transforms if isinstance(transforms, Compose) else [transforms]
            names = [type(t).__name__ for t in steps]
            assert not set(names) & set(EXPECTED), names


@pytest.mark.parametrize("form", ["Spacingd", "SpacingD", "monai.transforms.Spacingd", "$monai.transforms.Spacingd",
                                  "monai.transforms.spatial.dictionary.Spacingd"])
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_every_target_form_monai_accepts_is_renamed(form, suffix, tmp_path, capsys):
    config = {"pre": {"_target_": "Compose", "transforms": [
        {"_target_": form, "keys": ["image", "label"], "pixdim": [1.2, 1.3, 2.0], "mode": ["bilinear", "nearest"], "padding_mode": "border"},
    ]}}
    path = tmp_path / f"config{suffix}"
    path.write_text(json.dumps(config, indent=2) if suffix == ".json" else f"# a comment\npre:\n  _target_: Compose\n  transforms:\n"
                    f"    - _target_: {form}\n      keys: [image, label]\n      pixdim: [1.2, 1.3, 2.0]\n      mode: [bilinear, nearest]\n"
                    f"      padding_mode: border\n")
    original = ConfigParser(_load(path)).get_parsed_content("pre").transforms[0]
    assert type(original).__name__ == "Spacingd"  # MONAI itself reads this form as its Spacingd
    out = tmp_path / f"out{suffix}"
    status, stdout, _ = _migrate([str(path), "-o", str(out)], capsys)
    assert status == 0 and f"{form} -> monai_spacetx.SpaceSpacingd" in stdout
    migrated = ConfigParser(_load(out)).get_parsed_content("pre").transforms[0]
    assert type(migrated).__name__ == "SpaceSpacingd"
    assert _load(out)["pre"]["transforms"][0] == {**_load(path)["pre"]["transforms"][0], "_target_": "monai_spacetx.SpaceSpacingd"}
    if suffix == ".yaml":
        assert out.read_text().startswith("# a comment\n")


def test_the_crop_samplers_are_renamed_once_they_exist(tmp_path, capsys):
    import monai_spacetx

    path = tmp_path / "train.json"
    path.write_text(json.dumps({"train": {"_target_": "RandCropByPosNegLabeld", "keys": ["image", "label"], "label_key": "label",
                                          "spatial_size": [8, 8, 8], "pos": 1, "neg": 1, "num_samples": 2}}))
    status, stdout, _ = _migrate([str(path)], capsys)
    assert status == 0
    if hasattr(monai_spacetx, "SpaceRandCropByPosNegLabeld"):
        assert "RandCropByPosNegLabeld -> monai_spacetx.SpaceRandCropByPosNegLabeld" in stdout
    else:
        assert "nothing to rename" in stdout


def test_an_argument_ours_does_not_take_is_not_renamed_but_flagged(tmp_path, capsys, monkeypatch):
    # every listed counterpart takes all of MONAI's arguments (the signature test below); pair Spacingd with
    # SpaceResampled, which takes no `recompute_affine`, to see the entry kept and flagged rather than broken
    from monai_spacetx.transforms import names

    monkeypatch.setitem(names.COUNTERPARTS, "Spacingd", "SpaceResampled")
    path = tmp_path / "pre.json"
    path.write_text(json.dumps({"pre": {"_target_": "Compose", "transforms": [
        {"_target_": "Spacingd", "keys": "image", "pixdim": 1.0, "recompute_affine": True},
        {"_target_": "Spacingd", "keys": "image", "pixdim": 2.0}]}}))
    status, stdout, _ = _migrate([str(path)], capsys)
    assert status == 0
    assert "pre#transforms#1: Spacingd -> monai_spacetx.SpaceResampled" in stdout and "1 transform renamed" in stdout
    assert re.search(r"\[fix\] pre#transforms#0: Spacingd not migrated: SpaceResampled takes no argument 'recompute_affine'", stdout)


def test_every_counterpart_takes_every_argument_of_monais_transform():
    import inspect

    import monai.transforms

    import monai_spacetx

    for theirs, ours in EXPECTED.items():
        mine = inspect.signature(getattr(monai_spacetx, ours)).parameters
        wildcard = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in mine.values())
        for name, parameter in inspect.signature(getattr(monai.transforms, theirs)).parameters.items():
            if parameter.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
                assert name in mine or wildcard, (theirs, name)


# ----------------------------------------------------------------------------- what needs a decision
def _finding_lines(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.strip().startswith(("[fix]", "[decide]", "[note]"))]


def test_argmax_after_invertd_is_a_decision_and_after_an_argmax_export_an_error(tmp_path, capsys):
    status, stdout, _ = _migrate([str(ZOO / "spleen_ct_segmentation.yaml")], capsys)
    lines = _finding_lines(stdout)
    assert status == 0 and len(lines) == 1
    assert lines[0].startswith("[decide] postprocessing#transforms#2: AsDiscreted(argmax=True) after SpaceInvertd at postprocessing#transforms#1")
    # already exported with argmax: a second argmax makes every voxel 0 (README, export section)
    text = (ZOO / "spleen_ct_segmentation.yaml").read_text().replace("      nearest_interp: false\n", "      argmax: true\n")
    text = text.replace("_target_: Invertd", "_target_: monai_spacetx.SpaceInvertd")
    path = tmp_path / "exported.yaml"
    path.write_text(text)
    status, stdout, _ = _migrate([str(path)], capsys)
    lines = _finding_lines(stdout)
    assert status == 0 and len(lines) == 1
    assert lines[0].startswith("[fix] postprocessing#transforms#2: AsDiscreted(argmax=True) after SpaceInvertd(argmax=True)")
    # the endoscopic config's AsDiscreted also makes one-hot channels: that argument stays
    _, stdout, _ = _migrate([str(ZOO / "endoscopic_tool_segmentation.yaml")], capsys)
    assert "keep its other arguments: to_onehot" in stdout


def test_hard_labels_mapped_back_are_a_decision(capsys):
    _, stdout, _ = _migrate([str(ZOO / "wholeBody_ct_segmentation.yaml")], capsys)
    (line,) = _finding_lines(stdout)
    assert line.startswith("[decide] postprocessing#transforms#2: SpaceInvertd maps hard labels back (AsDiscreted(argmax=True) at "
                           "postprocessing#transforms#1 comes first): exact when")
    _, stdout, _ = _migrate([str(ZOO / "prostate_mri_anatomy.yaml")], capsys)  # nearest_interp: false on hard labels
    (line,) = _finding_lines(stdout)
    assert "mode 'linear' interpolates the label values themselves" in line


LAZY = {
    "preprocessing": {"_target_": "Compose", "lazy": True, "transforms": [
        {"_target_": "LoadImaged", "keys": "image", "ensure_channel_first": True},
        {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS"},
        {"_target_": "Spacingd", "keys": "image", "pixdim": [1.5, 1.5, 2.0], "mode": "bilinear"},
        {"_target_": "Flipd", "keys": "image", "spatial_axis": 0},
        {"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": -57, "a_max": 164, "b_min": 0, "b_max": 1, "clip": True},
    ]},
    "postprocessing": {"_target_": "Compose", "transforms": [
        {"_target_": "Invertd", "keys": "pred", "transform": "@preprocessing", "orig_keys": "image", "nearest_interp": True}]},
}


def test_lazy_chains_get_space_apply_pending_where_monai_would_resample(tmp_path, capsys):
    path = tmp_path / "lazy.json"
    path.write_text(json.dumps(LAZY, indent=2))
    out = tmp_path / "migrated.json"
    status, stdout, _ = _migrate([str(path), "-o", str(out)], capsys)
    (line,) = _finding_lines(stdout)
    # Orientationd is absorbed by SpaceSpacingd; Flipd stays pending until the intensity transform reads the data
    assert line.startswith("[decide] preprocessing#transforms#4: ScaleIntensityRanged")
    assert "(Flipd (preprocessing#transforms#3))" in line
    snippet = json.loads(re.search(r"insert (\{.*?\}) before it", line).group(1))
    assert snippet == {"_target_": "monai_spacetx.SpaceApplyPendingd", "keys": "image"}
    # eager (no lazy anywhere): nothing is pending, nothing to advise; --lazy analyses it as lazy
    eager = json.loads(json.dumps(LAZY))
    del eager["preprocessing"]["lazy"]
    path.write_text(json.dumps(eager, indent=2))
    _, stdout, _ = _migrate([str(path)], capsys)
    assert _finding_lines(stdout) == []
    _, stdout, _ = _migrate([str(path), "--lazy"], capsys)
    assert len(_finding_lines(stdout)) == 1
    # the Model Zoo chains need no sink: our Spacingd / CropForegroundd take the pending Orientationd along
    for name in ("spleen_ct_segmentation", "pediatric_abdominal_ct_segmentation", "swin_unetr_btcv_segmentation"):
        _, stdout, _ = _migrate([str(ZOO / f"{name}.yaml"), "--lazy"], capsys)
        assert "SpaceApplyPendingd" not in stdout, name
    # the advice followed: the chain runs lazily, and equals MONAI's eager chain on a scan on the working grid
    scan = tmp_path / "scan.nii.gz"
    _write_scan(scan, np.diag([-1.5, -1.5, 2.0, 1.0]), (30, 28, 14))
    advised = _load(out)
    advised["preprocessing"]["transforms"].insert(4, snippet)
    ours = ConfigParser(advised).get_parsed_content("preprocessing")({"image": str(scan)})["image"]
    theirs = ConfigParser({"preprocessing": {**eager["preprocessing"]}}).get_parsed_content("preprocessing")({"image": str(scan)})["image"]
    assert not ours.pending_operations and ours.shape == theirs.shape
    np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)


# ----------------------------------------------------------------------------- --check against an independent count
def _brute_nearest(label: np.ndarray, native_affine: np.ndarray, working_affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``label`` sampled at the working voxel centres: the native voxel whose box holds the centre, 0 outside.

    A centre within 1e-4 voxel of a box boundary is on it (the README's residue rule: float32 NIfTI affines
    leave residues of that size) and goes to the higher index (the documented tie rule)."""
    ndim = label.ndim
    index = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1).reshape(-1, ndim)
    to_native = np.linalg.inv(native_affine) @ working_affine
    x = index @ to_native[:ndim, :ndim].T + to_native[:ndim, ndim]
    halves = np.round(x * 2) / 2
    x = np.where(np.abs(x - halves) < 1e-4, halves, x)
    nearest = np.floor(x + 0.5).astype(int)
    inside = np.all((nearest >= 0) & (nearest < np.array(label.shape)), axis=1)
    out = np.zeros(len(x), label.dtype)
    out[inside] = label[tuple(nearest[inside].T)]
    return out.reshape(shape)


def _brute_inside(native_affine: np.ndarray, shape: tuple[int, ...], working_affine: np.ndarray, working_shape: tuple[int, ...]) -> np.ndarray:
    """Native voxels whose centre lies in the working grid's field of view (index -0.5 .. n - 0.5)."""
    ndim = len(shape)
    index = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1).reshape(-1, ndim)
    to_working = np.linalg.inv(working_affine) @ native_affine
    x = index @ to_working[:ndim, :ndim].T + to_working[:ndim, ndim]
    return np.all((x >= -0.5 - 1e-4) & (x <= np.array(working_shape) - 0.5 + 1e-4), axis=1).reshape(shape)


def _affine(x: Any, ndim: int) -> np.ndarray:
    """MONAI's 4x4 affine as the ``(ndim+1, ndim+1)`` index -> world matrix."""
    a = np.asarray(x.affine, dtype=np.float64)
    keep = list(range(ndim)) + [3]
    return a[np.ix_(keep, keep)]


def _independent_count(config: Path, scan: Path, label: np.ndarray, native_affine: np.ndarray, channels: int, lazy: bool) -> tuple[int, int]:
    """Run ``config`` through ConfigParser with the perfect prediction; count wrong voxels inside / outside with numpy."""
    parser = ConfigParser(_load(config))
    pre, post = parser.get_parsed_content("preprocessing"), parser.get_parsed_content("postprocessing")
    data = (Compose(pre.transforms, lazy=True) if lazy else pre)({"image": str(scan)})
    ndim = label.ndim
    working_affine, working_shape = _affine(data["image"], ndim), tuple(data["image"].shape[1:])
    ideal = _brute_nearest(label, native_affine, working_affine, working_shape)
    onehot = np.stack([ideal == k for k in range(channels)]).astype(np.float32) if channels > 1 else ideal[None].astype(np.float32)
    data["pred"] = MetaTensor(torch.from_numpy(onehot))
    back = Compose([t for t in post.transforms if not isinstance(t, SaveImaged)])(data)["pred"].numpy().astype(float)
    back = np.argmax(back, 0) if back.shape[0] > 1 else np.rint(back[0])
    inside = _brute_inside(native_affine, label.shape, working_affine, working_shape)
    wrong = back != label
    return int((wrong & inside).sum()), int((wrong & ~inside).sum())


def _table(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        found = re.match(r"  (working shape|mapped-back shape|wrong voxels inside grid|Dice inside grid|wrong voxels outside grid)\s+(.*)$", line)
        if found:
            rows[found.group(1)] = re.findall(r"\([^)]*\)|\S+", found.group(2))
    return rows


CHECKS = [  # config, scan spacing, shape, oblique, network channels, lazy
    ("spleen_ct_segmentation", (1.5, 1.5, 2.0), (34, 30, 16), False, 2, False),
    ("spleen_ct_segmentation", (1.0, 1.1, 1.3), (40, 36, 24), True, 2, True),
    ("pediatric_abdominal_ct_segmentation", (1.0, 1.0, 1.7), (44, 40, 20), True, 2, False),
    ("wholeBody_ct_segmentation", (1.2, 1.2, 2.5), (36, 32, 12), True, 105, False),
]


@pytest.mark.parametrize("name, spacing, shape, oblique, channels, lazy", CHECKS, ids=[f"{c[0]}-{'lazy' if c[5] else 'eager'}-{c[1][0]}" for c in CHECKS])
def test_check_prints_the_round_trip_of_both_configs_as_counted_independently(name, spacing, shape, oblique, channels, lazy, tmp_path, capsys):
    config = _portable(ZOO / f"{name}.yaml", tmp_path)
    scan = tmp_path / "case0.nii.gz"
    affine = _oblique(spacing) if oblique else np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    _write_scan(scan, affine, shape)
    migrated = tmp_path / "migrated.yaml"
    argv = [str(config), "-o", str(migrated), "--check", str(scan), "--threshold", "75", "--quiet"] + (["--lazy"] if lazy else [])
    status, stdout, err = _migrate(argv, capsys)
    assert status == 0, err
    table = _table(stdout)
    label = (np.asarray(nib.load(str(scan)).dataobj) > 75).astype(np.uint8)
    affine = nib.load(str(scan)).affine  # as stored (float32)
    for column, path in ((0, config), (1, migrated)):
        inside, outside = _independent_count(path, scan, label, affine, channels, lazy)
        assert table["mapped-back shape"][column] == str(shape)
        assert (int(table["wrong voxels inside grid"][column]), int(table["wrong voxels outside grid"][column])) == (inside, outside)
    if not oblique:  # the scan already lies on the working grid (Orientationd only flips): nothing may change
        assert table["wrong voxels inside grid"] == ["0", "0"] and table["wrong voxels outside grid"] == ["0", "0"]


def test_check_on_the_tutorial_bundle_and_a_2d_config(tmp_path, capsys):
    scan = tmp_path / "epi.nii.gz"
    _write_scan(scan, _oblique((2.0, 2.0, 2.2), 0.1), (40, 36, 14), radius=9.0, sphere_hu=700.0)  # above the config's 300
    status, stdout, err = _migrate([str(TUTORIAL), "--check", str(scan), "--threshold", "300", "--quiet"], capsys)
    assert status == 0, err
    table = _table(stdout)
    label = (np.asarray(nib.load(str(scan)).dataobj) > 300).astype(np.uint8)
    inside, outside = _independent_count(TUTORIAL, scan, label, nib.load(str(scan)).affine, 1, False)
    assert table["wrong voxels inside grid"] == [str(inside)] * 2 and table["wrong voxels outside grid"] == [str(outside)] * 2
    # the endoscopic config: an RGB PNG, its luminance thresholded; 736 x 480 is finer than the frame: exact
    from PIL import Image

    rgb = np.full((45, 60, 3), 30, np.uint8)
    rgb[10:31, 15:47] = (210, 190, 170)
    Image.fromarray(rgb).save(tmp_path / "frame.png")
    status, stdout, err = _migrate([str(ZOO / "endoscopic_tool_segmentation.yaml"), "--check", str(tmp_path / "frame.png"), "--quiet"], capsys)
    assert status == 0, err
    table = _table(stdout)
    assert table["mapped-back shape"] == ["(60, 45)"] * 2  # MONAI's PIL reader: (W, H)
    assert table["wrong voxels inside grid"] == ["0", "0"] and table["Dice inside grid"] == ["1.0000", "1.0000"]


# ----------------------------------------------------------------------------- bad input: one line, exit 2
@pytest.fixture
def bad(tmp_path):
    (tmp_path / "broken.json").write_text('{"preprocessing": {"_target_": "Compose",}')
    (tmp_path / "broken.yaml").write_text("preprocessing:\n  _target_: Compose\n   transforms: [\n")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "plain.yaml").write_text("a: 1\nb: [2, 3]\n")
    (tmp_path / "unknown.json").write_text(json.dumps({"pre": {"_target_": "Compose", "transforms": [{"_target_": "NoSuchTransformd", "keys": "x"}]}}))
    (tmp_path / "dotted.json").write_text(json.dumps({"pre": {"_target_": "monai.transforms.NoSuchTransformd"}}))
    (tmp_path / "config.txt").write_text("{}")
    (tmp_path / "ok.json").write_text(json.dumps({"pre": {"_target_": "Spacingd", "keys": "image", "pixdim": 1.0}}))
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.mark.parametrize("argv, message", [
    (["missing.json"], "config: no such file: "),
    (["folder"], "is a folder; give the config file"),
    (["config.txt"], "expected a .json, .yaml or .yml bundle config, got .txt"),
    (["broken.json"], "not valid JSON (line 1, column 42"),
    (["broken.yaml"], "not valid YAML (line 3"),
    (["list.json"], "not a bundle config (the top level is a list"),
    (["plain.yaml"], "not a bundle config (no '_target_' anywhere"),
    (["unknown.json"], "_target_ 'NoSuchTransformd' at pre#transforms#0 cannot be resolved"),
    (["dotted.json"], "_target_ 'monai.transforms.NoSuchTransformd' at pre cannot be resolved"),
    (["ok.json", "--label", "x.nii.gz"], "--label and --threshold apply to --check only"),
    (["ok.json", "--check", "missing.nii.gz"], "--check: no such file"),
    (["ok.json", "--example", "nope.nii"], "--example: nibabel ships no example scan 'nope.nii'"),
    (["ok.json", "--example", "anatomical.nii", "--check", "ok.json"], "give --check SCAN or --example NAME, not both"),
])
def test_bad_input_is_one_line_exit_2(argv, message, bad, capsys, monkeypatch):
    monkeypatch.chdir(bad)
    status, out, err = _migrate(argv, capsys)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("monai-spacetx migrate: error: ") and message in err, err


def test_yaml_without_pyyaml_is_one_clear_line(bad, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` raises ImportError
    status, _, err = _migrate([str(bad / "plain.yaml")], capsys)
    assert status == 2 and err.count("\n") == 1 and "reading YAML needs pyyaml (python -m pip install pyyaml" in err


def test_check_on_a_config_without_a_map_back_is_one_line(bad, capsys, tmp_path):
    scan = tmp_path / "scan.nii.gz"
    _write_scan(scan, np.diag([1.0, 1.0, 1.0, 1.0]), (12, 12, 8), radius=3.0)
    path = tmp_path / "pre_only.json"
    path.write_text(json.dumps({"preprocessing": {"_target_": "Compose", "transforms": [{"_target_": "LoadImaged", "keys": "image"}]},
                                "postprocessing": {"_target_": "Compose", "transforms": []}}))
    status, _, err = _migrate([str(path), "--check", str(scan), "--quiet"], capsys)
    assert status == 2 and err.count("\n") == 1 and "has no Invertd or SpaceInvertd" in err


def test_the_docs_example_is_what_the_command_prints(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the page's command names the config from the repository root
    doc = (ROOT / "docs" / "migrate.md").read_text()
    command = re.search(r"^(monai-spacetx migrate .* --example anatomical\.nii --quiet)$", doc, re.MULTILINE).group(1)
    block = re.search(r"```text\n(.*?)```", doc, re.DOTALL).group(1)
    status, stdout, err = _migrate(command.split()[2:], capsys)
    assert status == 0, err
    printed = stdout.splitlines()
    for line in block.splitlines():
        assert line in printed, line
    # the page's claim: hard labels from the finer grid (the wholeBody config) come back exact on the same scan
    _, stdout, _ = _migrate([str(ZOO / "wholeBody_ct_segmentation.yaml"), "--example", "anatomical.nii", "--quiet"], capsys)
    assert _table(stdout)["wrong voxels inside grid"] == ["0", "0"]


def test_a_lazy_flag_known_only_at_run_time_is_a_note_not_a_guess(tmp_path, capsys):
    path = tmp_path / "ref.json"
    path.write_text(json.dumps({"flag": True, "pre": {"_target_": "Compose", "lazy": "@flag", "transforms": [
        {"_target_": "Flipd", "keys": "image", "spatial_axis": 0}]}}))
    _, stdout, _ = _migrate([str(path)], capsys)
    assert _finding_lines(stdout) == ["[note] pre: lazy is '@flag', not known before the config runs: its pending steps are not "
                                      "analysed (run migrate with --lazy if this Compose runs lazily)"]
    _, stdout, _ = _migrate([str(path), "--lazy"], capsys)
    (line,) = _finding_lines(stdout)
    assert line.startswith("[decide] pre: the Compose ends while MONAI spatial steps are pending (Flipd (pre#transforms#0))")
    assert 'insert {"_target_": "monai_spacetx.SpaceApplyPendingd", "keys": "image"} as the last transform' in line


def test_monais_world_boxes_are_a_decision_not_a_rename(tmp_path, capsys):
    # the detection bundle's post-processing (MONAI Model Zoo lung_nodule_ct_detection): a different transform replaces it
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps({"post": {"_target_": "Compose", "transforms": [
        {"_target_": "AffineBoxToWorldCoordinated", "box_keys": "box", "box_ref_image_keys": "image", "affine_lps_to_ras": True}]}}))
    status, stdout, _ = _migrate([str(path)], capsys)
    (line,) = _finding_lines(stdout)
    assert status == 0 and "nothing to rename" in stdout
    assert line.startswith("[decide] post#transforms#0: AffineBoxToWorldCoordinated puts the world boxes half a working voxel off")
    assert "flip the boxes at the edge for LPS annotations" in line


def test_check_progress_counts_its_steps_and_moves_while_the_scan_loads(tmp_path, capsys):
    """``--check``'s bar: one line a step on stderr, 1/N ... N/N, with the scan's reading and the label's
    thresholding as steps of their own before the first pipeline runs."""
    scan = tmp_path / "epi.nii.gz"
    _write_scan(scan, _oblique((2.0, 2.0, 2.2), 0.1), (40, 36, 14), radius=9.0, sphere_hu=700.0)
    status, _, err = _migrate([str(TUTORIAL), "--check", str(scan), "--threshold", "300"], capsys)
    assert status == 0, err
    steps = [line for line in err.strip().splitlines() if line.startswith("[")]
    total = len(steps)
    assert [line.split("]")[1].split()[0] for line in steps] == [f"{n}/{total}" for n in range(1, total + 1)]
    texts = [line.split("]")[1].split(maxsplit=1)[1] for line in steps]
    first_pipeline = next(n for n, text in enumerate(texts) if "preprocessing" in text)
    assert first_pipeline >= 2 and any("scan" in text for text in texts[:first_pipeline]), texts
