"""Kill tests for the mutmut survivors of ``cli/inputs.py`` (tests/mutation/run_mutmut.py, tests/mutation/README.md).

Each test names the mutants it kills. The oracle is the command line's contract written out by hand: the exact
message a user reads for each bad input, and the points or volume a good input holds (written to disk here, so
the values are known). The readers themselves are MONAI's (``LoadImage``) and nibabel's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_spacetx.cli import inputs
from monai_spacetx.cli.inputs import load_case, read_landmarks
from monai_spacetx.cli.text import CliError


def _refused(call, *args) -> str:
    with pytest.raises(CliError) as caught:
        call(*args)
    return str(caught.value)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_landmark_files_refused_with_the_path_and_the_reason(tmp_path):
    """read_landmarks_2.._9, _read_landmarks_8, _9, _17, _18, _26, _27, _69, _70, _71, _76, _77, _80, _81, _85, _86
    (each message lost, its path lost, or its folder/file word swapped; ``or`` read as ``and`` in the shape check):
    every refusal's whole text, by hand."""
    folder = tmp_path / "points"
    folder.mkdir()
    missing = tmp_path / "none.csv"
    assert _refused(read_landmarks, folder, 3) == f"--landmarks: a folder, not a file: {str(folder)!r}"
    assert _refused(read_landmarks, missing, 3) == f"--landmarks: no such file: {str(missing)!r}"
    bad_json = _write(tmp_path / "bad.json", "[[1, 2, 3],")
    assert re.fullmatch(rf"--landmarks {re.escape(repr(str(bad_json)))}: not valid JSON \(.+\)", _refused(read_landmarks, bad_json, 3))
    keyless = _write(tmp_path / "keyless.json", json.dumps({"coords": [[1, 2, 3]]}))
    assert _refused(read_landmarks, keyless, 3) == f"--landmarks {str(keyless)!r}: a JSON object needs a 'landmarks' or 'points' list"
    words = _write(tmp_path / "words.json", json.dumps([["a", "b", "c"]]))
    assert re.fullmatch(rf"--landmarks {re.escape(repr(str(words)))}: not a list of numeric points \(.+\)", _refused(read_landmarks, words, 3))
    other = _write(tmp_path / "points.txt", "1,2,3\n")
    assert _refused(read_landmarks, other, 3) == f"--landmarks: expected a .csv or .json file, got {str(other)!r}"
    flat = _write(tmp_path / "flat.json", json.dumps([1.0, 2.0, 3.0]))  # one point without its brackets: 1-D
    assert _refused(read_landmarks, flat, 3) == f"--landmarks {str(flat)!r}: expected N x 3 coordinates for a 3-D image, got shape (3,)"
    planar = _write(tmp_path / "planar.json", json.dumps([[1.0, 2.0], [3.0, 4.0]]))  # 2-D rows for a 3-D image
    assert _refused(read_landmarks, planar, 3) == f"--landmarks {str(planar)!r}: expected N x 3 coordinates for a 3-D image, got shape (2, 2)"
    empty = _write(tmp_path / "empty.json", "[]")
    assert _refused(read_landmarks, empty, 3) == f"--landmarks {str(empty)!r}: expected N x 3 coordinates for a 3-D image, got shape (0,)"
    header_only = _write(tmp_path / "header.csv", "x,y,z\n")
    assert _refused(read_landmarks, header_only, 3) == f"--landmarks {str(header_only)!r}: no points"
    infinite = _write(tmp_path / "inf.csv", "1,2,inf\n")
    assert _refused(read_landmarks, infinite, 3) == f"--landmarks {str(infinite)!r}: non-finite coordinates"


def test_landmark_files_read_as_float64_points(tmp_path):
    """_read_landmarks_13, _14 (the ``"points"`` key misspelt), _23, _25, _64, _66 (the points not made float64: whole
    numbers stay int64), _42 (a blank row ends the file instead of being skipped): values and dtype by hand."""
    by_points = _write(tmp_path / "p.json", json.dumps({"points": [[1, 2, 3], [4, 5, 6]]}))
    got = read_landmarks(by_points, 3)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    spaced = _write(tmp_path / "spaced.csv", "x,y,z\n1,2,3\n\n4,5,6\n")
    got = read_landmarks(spaced, 3)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def _series(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 4-D NIfTI of three 5 x 4 x 3 volumes whose voxels say which volume they are (100 * v + index)."""
    data = np.stack([100.0 * v + np.arange(60, dtype=np.float32).reshape(5, 4, 3) for v in range(3)], axis=-1)
    path = tmp_path / "series.nii.gz"
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.diag([1.0, 1.0, 2.0, 1.0])), str(path))
    return path, data


def test_a_series_needs_volume_and_gives_exactly_that_volume(tmp_path):
    """_pick_volume_8, _10, _11, _12, _20 (the path, the shape or the range in the messages), _14, _15 (volume 0 refused),
    _22 (two volumes taken): the messages by hand; volumes 0 and 2 hold the values written."""
    path, data = _series(tmp_path)
    assert _refused(load_case, path, None, None, None) == (
        f"image {str(path)!r} holds 3 volumes (shape (5, 4, 3) x 3); pick one with --volume N, N in 0..2")
    assert _refused(load_case, path, None, None, 3) == f"--volume: expected 0..2 for {str(path)!r} (3 volumes), got 3"
    for volume in (0, 2):
        case, _, _ = load_case(path, None, None, volume)
        assert tuple(case["image"].shape) == (1, 5, 4, 3)
        np.testing.assert_array_equal(case["image"].numpy()[0], data[..., volume])


def test_the_dicom_reader_is_named_as_monai_registers_it(monkeypatch):
    """_dicom_reader_6.._10 (the ``itk`` module or ``ITKReader`` misspelt): with pydicom absent and itk present the
    reader is MONAI's ``ITKReader``, with pydicom present ``PydicomReader`` (both names MONAI's own classes)."""
    import importlib.util

    import monai.data

    present: set[str] = set()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name in present else None)
    assert inputs._dicom_reader() is None
    present.add("itk")
    assert inputs._dicom_reader() == "ITKReader" and hasattr(monai.data, "ITKReader")
    present.add("pydicom")
    assert inputs._dicom_reader() == "PydicomReader" and hasattr(monai.data, "PydicomReader")


@pytest.mark.parametrize("name, reason", [
    ("scan.tar.gz", "no reader takes .tar.gz files"),
    ("run.01.tar.gz", "no reader takes .tar.gz files"),
    ("SCAN.TAR.GZ", "no reader takes .TAR.GZ files"),
    ("brain.v1.mgz", "FreeSurfer MGH .mgz files are read by nibabel, not by LoadImage; convert it to NIfTI, "
                     "e.g. nibabel.save(nibabel.load(path), 'scan.nii.gz')"),
    ("scan", "a file without an extension that is not a DICOM file either (no DICM header)"),
])
def test_why_a_file_no_reader_takes_is_refused(tmp_path, name, reason):
    """_unknown_suffix_2.._7, _9.._11 (the two-part ``.gz`` suffix: its test, the join, the slice), _16.._18 (the text
    for a file without an extension): the whole message of ``check``'s image reader, by hand."""
    path = _write(tmp_path / name, "not an image\n")
    assert _refused(load_case, path, None, None, None) == (
        f"image {str(path)!r}: cannot be read as an image by MONAI's LoadImage "
        f"(not NIfTI, NRRD, PNG/JPG/BMP/TIFF nor DICOM: {reason})")


def _png(tmp_path: Path, name: str, pixels: np.ndarray, mode: str) -> Path:
    from PIL import Image

    path = tmp_path / name
    Image.fromarray(pixels, mode=mode).save(path)
    return path


def test_grey_with_alpha_keeps_the_grey_channel_and_rgba_drops_the_alpha(tmp_path):
    """_colour_to_luminance_20, _21 (``LA`` misspelt), _25.._27 (another channel or two taken), _48 (the alpha weighted
    in too), _53, _55 (the luminance without the file's metadata): an LA PNG gives its grey values and the note by
    hand; an RGBA PNG gives 0.299 R + 0.587 G + 0.114 B of the values written, whatever the alpha, and still names
    its file. PIL's images are (rows, columns); MONAI's PILReader gives (columns, rows)."""
    rng = np.random.default_rng(0)
    grey_alpha = rng.integers(0, 256, (6, 5, 2), dtype=np.uint8)
    path = _png(tmp_path, "ga.png", grey_alpha, "LA")
    case, _, note = load_case(path, None, None, None)
    assert note == "LA (grey + alpha): the grey channel"
    np.testing.assert_array_equal(case["image"].numpy(), grey_alpha[..., 0].T[None])
    rgba = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    path = _png(tmp_path, "rgba.png", rgba, "RGBA")
    case, _, note = load_case(path, None, None, None)
    assert note == "RGBA colours converted to luminance, 0.299 R + 0.587 G + 0.114 B as PIL's convert('L')"
    expected = (0.299 * rgba[..., 0] + 0.587 * rgba[..., 1] + 0.114 * rgba[..., 2]).T[None]
    np.testing.assert_allclose(case["image"].numpy(), expected, rtol=0, atol=1e-4)
    assert case["image"].meta["filename_or_obj"] == str(path)


def test_a_colour_mode_we_do_not_convert_is_refused_by_name(tmp_path):
    """_colour_to_luminance_58, _59 (the message lost, or its path): a CMYK JPEG, the whole message by hand."""
    path = _png(tmp_path, "print.jpg", np.full((6, 5, 4), 100, dtype=np.uint8), "CMYK")
    assert _refused(load_case, path, None, None, None) == (
        f"image {str(path)!r}: colour mode 'CMYK' is not supported; convert it to greyscale or RGB first")


def test_premultiplied_grey_alpha_keeps_the_grey_channel():
    """_colour_to_luminance_22.._24 (``La`` misspelt): PIL's premultiplied grey + alpha (which PNG cannot store, so a
    MetaTensor whose metadata says so) gives its first channel and the note naming the mode, by hand."""
    import torch
    from monai.data import MetaTensor

    image = MetaTensor(torch.arange(24, dtype=torch.float32).reshape(2, 3, 4), meta={"mode": "La"})
    grey, note = inputs._colour_to_luminance(image, None, Path("x.png"))
    assert note == "La (grey + alpha): the grey channel"
    np.testing.assert_array_equal(grey.numpy(), np.arange(12, dtype=np.float32).reshape(1, 3, 4))


def _monai_first_line(path: Path) -> str:
    """The first line of what MONAI's own ``LoadImage`` raises for ``path`` (the oracle for the reason quoted)."""
    import warnings

    from monai.transforms import LoadImage

    with warnings.catch_warnings(), pytest.raises(Exception) as caught:
        warnings.simplefilter("ignore")
        LoadImage(image_only=True, ensure_channel_first=True)(str(path))
    return next(line.strip() for line in str(caught.value).splitlines() if line.strip())


def test_an_unreadable_file_quotes_the_readers_first_line_cut_at_200_characters(tmp_path):
    """_read_image_23.._27, _29 (the reader's first line lost, or cut at 201), _31, _35 (a known suffix given the
    unknown-suffix reason): a broken ``.nii.gz`` whose name is long enough that MONAI's message passes 200
    characters; the reason is that message's first line, cut at 200, by hand from MONAI's own ``LoadImage``."""
    path = tmp_path / ("x" * 210 + ".nii.gz")
    path.write_bytes(b"not gzip" * 8)
    first = _monai_first_line(path)
    assert len(first) > 200
    assert _refused(load_case, path, None, None, None) == (
        f"image {str(path)!r}: cannot be read as an image by MONAI's LoadImage ({first[:200]})")


def test_a_reader_error_without_text_is_named_by_its_type(tmp_path, monkeypatch):
    """_read_image_30 (the type of ``None`` named instead of the error's): a reader that raises ``ValueError()``."""
    import monai.transforms

    def silent(self, *args, **kwargs):
        raise ValueError()

    monkeypatch.setattr(monai.transforms.LoadImage, "__call__", silent)
    path = _write(tmp_path / "scan.nii.gz", "x")
    assert _refused(inputs.read_image, "image", path) == (
        f"image {str(path)!r}: cannot be read as an image by MONAI's LoadImage (ValueError)")


def test_a_folder_that_is_no_dicom_series_and_missing_inputs_are_named(tmp_path):
    """_read_image_1 (the argument's name lost), _39, _41.._43 (the folder called an image, or the words changed),
    _load_case_6.._9, _11 (``image``/``--label`` misspelt or lost in the missing-file message), _16, _18.._20 (the
    progress text for a DICOM folder): the messages and the progress step by hand."""
    folder = tmp_path / "folder"
    folder.mkdir()
    _write(folder / "notes.txt", "hello")
    steps: list[str] = []
    assert re.fullmatch(rf"image {re.escape(repr(str(folder)))}: cannot be read as a DICOM series by MONAI's LoadImage \(.+\)",
                        _refused(load_case, folder, None, None, None, steps.append))
    assert steps == ["read the scan (a DICOM series)"]
    missing, scan = tmp_path / "none.nii.gz", _series(tmp_path)[0]
    assert _refused(load_case, missing, None, None, None) == f"image: no such file: {str(missing)!r}"
    assert _refused(load_case, scan, missing, None, 0) == f"--label: no such file: {str(missing)!r}"
    assert _refused(inputs.read_image, "--label", missing) == f"--label: no such file: {str(missing)!r}"


def _nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(data, np.diag([1.0, 1.0, 2.0, 1.0]) if affine is None else affine), str(path))
    return path


def test_the_label_is_checked_and_returned_as_uint8_whole_numbers(tmp_path):
    """load_case's label branch: every refusal's whole message and the accepted label's values and dtype, by hand
    from the arrays written (the stand-in's note and cut too)."""
    rng = np.random.default_rng(3)
    image = rng.random((5, 4, 3)).astype(np.float32)
    scan = _nifti(tmp_path / "scan.nii.gz", image)
    labels = rng.integers(0, 4, (5, 4, 3)).astype(np.float32)
    good = _nifti(tmp_path / "good.nii.gz", labels)
    case, source, note = load_case(scan, good, None, None)
    assert (source, note) == (str(good), None)
    assert case["label"].dtype == torch_uint8()
    np.testing.assert_array_equal(case["label"].numpy()[0], labels.astype(np.uint8))
    np.testing.assert_array_equal(case["image"].numpy()[0], image)

    case, source, _ = load_case(scan, None, 0.5, None)
    assert source == "stand-in: image > 0.5"
    np.testing.assert_array_equal(case["label"].numpy()[0], (image > 0.5).astype(np.uint8))
    case, source, _ = load_case(scan, None, None, None)
    assert source == f"stand-in: image > {float(np.mean(image, dtype=np.float64)):g}"

    other = _nifti(tmp_path / "small.nii.gz", labels[:4])
    assert _refused(load_case, scan, other, None, None) == (
        f"--label {str(other)!r}: must lie on the image's grid; label shape (4, 4, 3) vs image (5, 4, 3)")
    nan = labels.copy()
    nan[0, 0, 0] = np.nan
    nan_path = _nifti(tmp_path / "nan.nii.gz", nan)
    assert _refused(load_case, scan, nan_path, None, None) == (
        f"--label {str(nan_path)!r}: labels must be whole numbers 0..255, got NaN or infinite values")
    many = labels + np.arange(60, dtype=np.float32).reshape(5, 4, 3) % 7 / 8  # fractions 1/8 .. 6/8
    many_path = _nifti(tmp_path / "many.nii.gz", many)
    fractional = np.unique(many[many != np.round(many)])
    assert _refused(load_case, scan, many_path, None, None) == (
        f"--label {str(many_path)!r}: labels must be whole numbers 0..255, got {fractional.size} fractional value(s): "
        + ", ".join(f"{v:g}" for v in fractional[:5]) + ", ...")
    for low, high in ((-1.0, 3.0), (0.0, 256.0)):
        out = labels.copy()
        out[0, 0, 0], out[1, 1, 1] = low, high
        out_path = _nifti(tmp_path / f"range{high:g}.nii.gz", out)
        assert _refused(load_case, scan, out_path, None, None) == (
            f"--label {str(out_path)!r}: labels must be 0..255, got {min(low, 0):g}..{high:g}")


def torch_uint8():
    import torch

    return torch.uint8


def test_images_of_the_wrong_dimension_are_refused_with_their_shape(tmp_path):
    """load_case's dimension checks: a 1-D image and a 5-D NIfTI, the whole messages by hand."""
    line = _nifti(tmp_path / "line.nii.gz", np.arange(6, dtype=np.float32))
    assert _refused(load_case, line, None, None, None) == (
        f"image {str(line)!r}: expected a 2-D or 3-D image, got spatial shape (6,)")
    five = _nifti(tmp_path / "five.nii.gz", np.zeros((3, 3, 3, 2, 2), dtype=np.float32))
    # MONAI's LoadImage takes the last of the five NIfTI axes as the channel
    assert _refused(load_case, five, None, None, None) == (f"image {str(five)!r}: expected a 2-D or 3-D image (or a 4-D series "
                                                           "of them, with --volume), got a 5-D array of shape (3, 3, 3, 2) x 2")


def _on_grids(monkeypatch, tmp_path: Path, image_origin, label_origin, channels: int = 1) -> tuple[Path, Path]:
    """Two files whose reading gives a 4 x 3 x 2 scan and label with these origins (float64 affines, so a difference
    is exactly what is written; a NIfTI file would store float32)."""
    import torch
    from monai.data import MetaTensor

    def grid(origin) -> torch.Tensor:
        affine = torch.eye(4, dtype=torch.float64)
        affine[:3, 3] = torch.tensor(origin, dtype=torch.float64)
        return affine

    made = {"scan.nii.gz": MetaTensor(torch.arange(24.0).reshape(1, 4, 3, 2), affine=grid(image_origin)),
            "label.nii.gz": MetaTensor(torch.ones(channels, 4, 3, 2), affine=grid(label_origin))}
    monkeypatch.setattr(inputs, "read_image", lambda name, path: made[path.name])
    return _write(tmp_path / "scan.nii.gz", "x"), _write(tmp_path / "label.nii.gz", "x")


def test_a_label_grid_within_the_tolerance_is_accepted_and_one_beyond_is_refused_with_both_origins(monkeypatch, tmp_path):
    """_load_case_127 (the affine tolerance made strict: a label exactly 1e-4 mm off refused), _135, _140, _144, _149 (the
    origins in the message rounded to 0 or 5 decimals, not 4), _106 (the path in the channel message): by hand."""
    scan, label = _on_grids(monkeypatch, tmp_path, (0.0, 0.0, 0.0), (1e-4, 0.0, 0.0))
    case, source, _ = load_case(scan, label, None, None)
    assert source == str(label) and case["label"].shape == (1, 4, 3, 2)
    scan, label = _on_grids(monkeypatch, tmp_path, (1.23456789, 0.0, 0.0), (1.23476789, 0.0, 0.0))
    assert _refused(load_case, scan, label, None, None) == (
        f"--label {str(label)!r}: must lie on the image's grid; same shape (4, 3, 2) but its affine differs from the image's "
        "by up to 0.0002 mm (label origin [1.2348, 0.0, 0.0], image origin [1.2346, 0.0, 0.0])")
    scan, label = _on_grids(monkeypatch, tmp_path, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), channels=2)
    assert _refused(load_case, scan, label, None, None) == f"--label {str(label)!r}: expected one label map, got 2 channels"


def test_the_stand_in_label_is_uint8_and_the_progress_says_what_is_read(tmp_path):
    """_load_case_79 (the stand-in left as bool), _59 (its progress text), _89 (the advice for an empty stand-in): the
    dtype, the two progress texts and the whole message, by hand."""
    import torch

    scan = _nifti(tmp_path / "scan.nii.gz", np.arange(24, dtype=np.float32).reshape(4, 3, 2))
    steps: list[str] = []
    case, _, _ = load_case(scan, None, None, None, steps.append)
    assert case["label"].dtype == torch.uint8
    assert steps == ["read the scan (scan.nii.gz)", "stand-in label: threshold the scan"]
    flat = _nifti(tmp_path / "flat.nii.gz", np.zeros((4, 3, 2), dtype=np.float32))
    assert _refused(load_case, flat, None, None, None) == (
        f"image {str(flat)!r}: the stand-in label image > 0 is empty (no voxel above it: a constant image?); give --label, "
        "or --crop-foreground T with a lower T")


def test_label_bounds_and_the_shortened_list_of_fractions(tmp_path):
    """_load_case_172, _173 (the list of fractional values shortened at 5 rather than after 5), _180 (255 refused),
    _189, _191 (the label's metadata dropped): exactly five fractions are all shown, six end in "...", a label of 255 is
    kept as 255 with its file named in its metadata; by hand."""
    scan = _nifti(tmp_path / "scan.nii.gz", np.ones((4, 3, 2), dtype=np.float32))
    for count in (5, 6):
        values = np.zeros((4, 3, 2), dtype=np.float32)
        values.flat[:count] = np.arange(count) + 0.5
        path = _nifti(tmp_path / f"frac{count}.nii.gz", values)
        shown = ", ".join(f"{v + 0.5:g}" for v in range(min(count, 5))) + (", ..." if count > 5 else "")
        assert _refused(load_case, scan, path, None, None) == (
            f"--label {str(path)!r}: labels must be whole numbers 0..255, got {count} fractional value(s): {shown}")
    top = np.zeros((4, 3, 2), dtype=np.float32)
    top[1, 2, 1] = 255
    path = _nifti(tmp_path / "top.nii.gz", top)
    case, _, _ = load_case(scan, path, None, None)
    np.testing.assert_array_equal(case["label"].numpy()[0], top.astype(np.uint8))
    assert case["label"].meta["filename_or_obj"] == str(path)
