"""The command line: ``monai-spacetx`` / ``python -m monai_spacetx``, its help, errors and ``check``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_spacetx.cli import build_parser, main
from monai_spacetx.cli.text import Progress


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """An oblique, anisotropic 3-D scan with a two-class label, landmarks as CSV and JSON, a 4-D scan, a PNG."""
    folder = tmp_path_factory.mktemp("check")
    shape = (24, 20, 12)
    c, s = np.cos(0.3), np.sin(0.3)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]) * np.array([1.2, 1.0, 2.5])
    affine[:3, 3] = (-14.0, 8.0, 30.0)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1)
    body = (((grid - (11.6, 9.3, 5.7)) / (7.2, 6.1, 3.9)) ** 2).sum(-1) <= 1
    core = (((grid - (13.0, 8.0, 6.0)) / (2.6, 2.9, 1.7)) ** 2).sum(-1) <= 1
    label = body.astype(np.uint8) + (core & body).astype(np.uint8)
    image = (label * 100.0 + np.random.default_rng(0).normal(0, 3, shape)).astype(np.float32)
    nib.save(nib.Nifti1Image(image, affine), str(folder / "image.nii.gz"))
    nib.save(nib.Nifti1Image(label, affine), str(folder / "label.nii.gz"))
    nib.save(nib.Nifti1Image(np.stack([image, image * 0.5], -1), affine), str(folder / "series.nii.gz"))
    points = np.array([[11.3, 9.2, 5.5], [6.0, 7.5, 4.0], [16.2, 12.0, 7.7]]) @ affine[:3, :3].T + affine[:3, 3]
    (folder / "points.csv").write_text("x,y,z\n" + "\n".join(",".join(f"{v:.6f}" for v in p) for p in points) + "\n")
    (folder / "points.json").write_text(json.dumps({"landmarks": points.tolist()}))
    lps = points * np.array([-1.0, -1.0, 1.0])
    (folder / "points_lps.json").write_text(json.dumps(lps.tolist()))
    from PIL import Image

    disc = (np.hypot(*np.meshgrid(np.arange(40) - 19.3, np.arange(30) - 14.6, indexing="xy")) < 9).astype(np.uint8) * 200
    Image.fromarray(disc).save(folder / "slice.png")
    return folder, label


def _check(argv, capsys):
    status = main(["check", "--quiet", *argv])
    out, err = capsys.readouterr()
    return status, out, err


# ----------------------------------------------------------------------------- help and prog names
def test_help_is_plain_text_with_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    top = capsys.readouterr().out
    assert top.startswith("usage: monai-spacetx ")
    assert "check" in top and "demo" in top and "examples:" in top
    for command in ("check", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert f"usage: monai-spacetx {command}" in text and "examples:" in text
        assert "``" not in text and ":func:" not in text and ":class:" not in text  # no reStructuredText
    assert "--volume" in text or command == "demo"


def test_check_help_names_the_voxel_budget_and_dicom(capsys):
    from monai_spacetx.cli.check import DEFAULT_MAX_VOXELS

    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"--max-voxels N refuse a crop or working grid of more than N voxels before any work starts (default {DEFAULT_MAX_VOXELS}, 512^3)" in text
    assert DEFAULT_MAX_VOXELS == 512**3
    assert "a DICOM series (a folder; needs pydicom)" in text and "a colour image is converted to luminance" in text


def test_prog_name_is_how_the_user_called_us(capsys):
    assert build_parser().prog == "monai-spacetx"
    assert build_parser("python -m monai_spacetx").prog == "python -m monai_spacetx"
    done = subprocess.run([sys.executable, "-m", "monai_spacetx", "check", "--help"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("usage: python -m monai_spacetx check")


def test_the_script_entry_point_is_the_cli_main():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"monai-spacetx": "monai_spacetx.cli:main"}
    script = Path(sys.executable).parent / "monai-spacetx"
    if script.is_file():  # installed (pip install -e .): the script prints its own name
        done = subprocess.run([str(script), "demo", "--help"], capture_output=True, text=True, check=True)
        assert done.stdout.startswith("usage: monai-spacetx demo")


# ----------------------------------------------------------------------------- errors: one line, one prefix
@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "the following arguments are required: command"),
        (["nope"], "invalid choice: 'nope'"),
        (["check", "x.nii.gz", "--spacing", "abc"], "invalid float value: 'abc'"),
        (["check", "--spacing", "1"], "give the scan to check, or --example NAME"),
        (["check", "x.nii.gz"], "give the working grid"),
        (["check", "missing.nii.gz", "--size", "8", "8", "8"], "image: no such file: 'missing.nii.gz'"),
        (["check", "--example", "nothing.nii", "--size", "8"], "nibabel ships no example scan 'nothing.nii'"),
    ],
)
def test_errors_are_one_line_with_one_prefix(argv, message, capsys):
    try:
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    err = capsys.readouterr().err
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    prefix = "monai-spacetx check: error: " if argv[:1] == ["check"] else "monai-spacetx: error: "
    assert lines[0].startswith(prefix) and message in lines[0], lines[0]


def test_check_bad_input_messages(case, capsys):
    folder, _ = case
    image = str(folder / "image.nii.gz")
    bad = folder / "bad.csv"
    bad.write_text("1,2\n3,4\n")
    cases = [
        ([image, "--size", "10", "10"], "--size: expected 3 values for a 3-D image, got [10, 10]"),
        ([image, "--spacing", "1", "0", "1"], "--spacing: values must be positive, got [1.0, 0.0, 1.0]"),
        ([image, "--roi", "5", "5", "5", "5", "9", "9", "--size", "8", "8", "8"], "--roi: empty or inverted box"),
        ([image, "--roi", "0", "0", "0", "30", "9", "9", "--size", "8", "8", "8"], "leaves the image of shape (24, 20, 12)"),
        ([image, "--roi", "0", "0", "4", "4", "--size", "8", "8", "8"], "--roi: expected 6 integers"),
        ([image, "--margin", "3", "--size", "8", "8", "8"], "--margin applies to --crop-foreground only"),
        ([image, "--crop-foreground", "1e9", "--size", "8", "8", "8"], "no voxel of the image is above 1e+09"),
        ([image, "--landmarks", str(bad), "--size", "8", "8", "8"], "row 1 has 2 values ['1', '2'], expected 3 coordinates for a 3-D image"),
        ([image, "--label", str(folder / "series.nii.gz"), "--size", "8", "8", "8"], "expected one label map, got 2 channels"),
        ([str(folder / "series.nii.gz"), "--volume", "2", "--size", "8", "8", "8"], "--volume: expected 0..1"),
    ]
    for argv, message in cases:
        status, out, err = _check(argv, capsys)
        assert status == 2 and out == ""
        assert err.count("\n") == 1 and err.startswith("monai-spacetx check: error: ") and message in err, (argv, err)


# ----------------------------------------------------------------------------- check: the report
def test_check_separates_inside_and_outside_the_working_grid(case, capsys):
    folder, label = case
    status, out, _ = _check([str(folder / "image.nii.gz"), "--label", str(folder / "label.nii.gz"),
                             "--roi", "6", "4", "0", "18", "16", "12", "--spacing", "0.6", "0.5", "1.25"], capsys)
    assert status == 0
    outside = np.count_nonzero(label) - np.count_nonzero(label[6:18, 4:16, :])
    assert "SpaceCropd + SpaceResampled + SpaceInvertd" in out and "SpatialCropd + Spacingd + Invertd" in out
    inside_row = next(line for line in out.splitlines() if "wrong voxels inside grid" in line).split()
    outside_row = next(line for line in out.splitlines() if "wrong voxels outside grid" in line).split()
    assert inside_row[4] == "0"  # ours: exact where a prediction is possible
    assert outside_row[4] == str(outside) and outside > 0
    assert f"coverage  : {12 * 12 * 12} of {label.size} native voxels" in out


def test_check_landmarks_csv_json_and_lps(case, capsys):
    folder, _ = case
    image = str(folder / "image.nii.gz")
    for points, extra in (("points.csv", []), ("points.json", []), ("points_lps.json", ["--lps"])):
        status, out, _ = _check([image, "--crop-foreground", "50", "--margin", "2", "--size", "40", "36", "30",
                                 "--landmarks", str(folder / points), *extra], capsys)
        assert status == 0
        row = next(line for line in out.splitlines() if "landmark error max (mm)" in line)
        assert float(row.split()[4]) < 1e-6, row
        assert ("(LPS mm)" in out) == bool(extra)


def test_check_stand_in_label_2d_png_and_4d_volume(case, capsys):
    folder, _ = case
    status, out, _ = _check([str(folder / "image.nii.gz"), "--crop-foreground", "50", "--spacing", "1.0"], capsys)
    assert status == 0 and "stand-in: image > 50" in out
    status, out, err = _check([str(folder / "slice.png"), "--spacing", "0.5"], capsys)  # 2-D: no traceback
    assert status == 0 and err == "" and "shape (40, 30)" in out and "(79, 59)" in out
    status, _, err = _check([str(folder / "series.nii.gz"), "--size", "8", "8", "8"], capsys)
    assert status == 2 and "holds 2 volumes" in err and "--volume N" in err
    status, out, _ = _check([str(folder / "series.nii.gz"), "--volume", "1", "--size", "30", "30", "20", "--no-monai"], capsys)
    assert status == 0 and "MONAI" not in out.split("pipeline")[1].splitlines()[0]


def test_check_on_the_shipped_example_scan(capsys):
    """The report's numbers against the scan read with nibabel and counted by hand."""
    import os

    from nibabel.testing import data_path

    status, out, _ = _check(["--example", "anatomical.nii", "--roi", "4", "4", "4", "28", "36", "20", "--spacing", "1.5"], capsys)
    assert status == 0 and "anatomical.nii" in out and "axes LAS" in out  # affine diag(-2, 2, 2): x points left
    scan = nib.load(os.path.join(data_path, "anatomical.nii"))
    values = np.asarray(scan.dataobj, dtype=np.float64)
    label = values > values.mean()  # the stand-in label: image > its mean
    box = (slice(4, 28), slice(4, 36), slice(4, 20))
    outside = int(label.sum() - label[box].sum())  # every foreground voxel the crop throws away is wrong
    total = int(np.prod(scan.shape))
    assert f"shape {scan.shape}, spacing [2.0, 2.0, 2.0] mm" in out and f"stand-in: image > {values.mean():g}" in out
    # the working grid covers the 24 x 32 x 16 voxel crop exactly: its voxels are the ones inside
    assert f"coverage  : {24 * 32 * 16} of {total} native voxels lie inside the working grid, {total - 24 * 32 * 16} outside" in out
    rows = {line[:29].strip(): line[29:].split() for line in out.splitlines() if line.startswith("  ") and len(line) > 29}
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    crop_affine = scan.affine.copy()
    crop_affine[:3, 3] += scan.affine[:3, :3] @ [4, 4, 4]
    shape = tuple(int(n) for n in Spacing(pixdim=1.5)(MetaTensor(torch.zeros(1, 24, 32, 16), affine=torch.as_tensor(crop_affine))).shape[1:])
    assert " ".join(rows["working shape"]) == f"{shape} {shape}" and shape == (32, 42, 21)  # MONAI's Spacing, not ours
    assert rows["wrong voxels inside grid"] == ["0", "0"] and rows["Dice inside grid"] == ["1.0000", "1.0000"]
    assert rows["wrong voxels outside grid"] == [str(outside), str(outside)] and outside > 1000


@pytest.mark.parametrize("flags, total", [([], 9), (["--no-monai"], 7), (["--probabilities"], 10), (["--no-monai", "--probabilities"], 8)])
def test_check_progress_goes_to_stderr(case, capsys, flags, total):
    """One line a step on stderr (not a terminal); the bar's total is the number of steps it takes, whatever the flags."""
    folder, _ = case
    assert main(["check", str(folder / "image.nii.gz"), "--size", "12", "10", "6", *flags]) == 0
    out, err = capsys.readouterr()
    steps = err.strip().splitlines()
    assert [line.split("]")[1].split()[0] for line in steps] == [f"{n}/{total}" for n in range(1, total + 1)]
    assert steps[-1].startswith("[" + "#" * 24 + f"] {total}/{total}") and "[" not in out.splitlines()[0]


@pytest.mark.parametrize("with_label", [True, False])
def test_check_progress_moves_while_the_case_loads(case, capsys, monkeypatch, with_label):
    """The bar advances during loading: a step is on stderr before the scan is read, another before the label is.

    Observed from outside: the real reader is wrapped to note what stderr holds when it is called, and
    load_case to note it when it returns (before the crop, the grid or any pipeline runs).
    """
    import monai_spacetx.cli.inputs as inputs

    folder, _ = case
    seen: list[tuple[str, list[str]]] = []
    err_so_far: list[str] = []

    def stderr_lines() -> list[str]:
        err_so_far.append(capsys.readouterr().err)
        return "".join(err_so_far).strip().splitlines()

    real_read, real_load = inputs.read_image, inputs.load_case

    def read_image(name, path):
        seen.append((f"read {name}", stderr_lines()))
        return real_read(name, path)

    def load_case(*args, **kwargs):
        result = real_load(*args, **kwargs)
        seen.append(("load_case returned", stderr_lines()))
        return result

    monkeypatch.setattr(inputs, "read_image", read_image)
    monkeypatch.setattr(inputs, "load_case", load_case)
    label = ["--label", str(folder / "label.nii.gz")] if with_label else []
    assert main(["check", str(folder / "image.nii.gz"), *label, "--size", "12", "10", "6", "--no-monai"]) == 0
    final = stderr_lines()
    events = [event for event, _ in seen]
    assert events == (["read image", "read --label", "load_case returned"] if with_label else ["read image", "load_case returned"])
    at = {event: lines for event, lines in seen}
    # before the scan is read: one step, 1/7, naming the scan
    assert len(at["read image"]) == 1 and "] 1/7 " in at["read image"][0] and "read the scan (image.nii.gz)" in at["read image"][0]
    # before load_case returns: a second step, for the label (read from its file, or thresholded from the scan)
    loaded = at["load_case returned"]
    assert len(loaded) == 2 and loaded[0] == at["read image"][0] and "] 2/7 " in loaded[1]
    assert ("read the label (label.nii.gz)" if with_label else "stand-in label") in loaded[1]
    if with_label:  # the label's step is written before its file is read, not after
        assert at["read --label"] == loaded
    # the bar's first two blocks fill during loading (2 of 7 steps of 24 blocks: 7 '#'), the rest after
    assert loaded[1].startswith("[" + "#" * round(24 * 2 / 7) + "." * (24 - round(24 * 2 / 7)) + "]")
    assert len(final) == 7 and final[:2] == loaded and "] 7/7 " in final[-1]


def test_progress_redraws_on_a_terminal():
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = Progress(2, stream)
    bar("one")
    bar("two")
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("two\n") and "2/2" in text
    silent = io.StringIO()
    Progress(0, silent)("nothing")
    assert silent.getvalue() == ""


def test_check_figure(case, tmp_path, capsys):
    folder, _ = case
    target = tmp_path / "figs" / "worst.png"
    status, out, _ = _check([str(folder / "image.nii.gz"), "--size", "40", "36", "30", "--figure", str(target)], capsys)
    assert status == 0 and f"figure: {target}" in out
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_figure_without_matplotlib_is_one_clear_line(case, monkeypatch, capsys):
    folder, _ = case
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, out, err = _check([str(folder / "image.nii.gz"), "--size", "8", "8", "8", "--figure", "x.png"], capsys)
    assert status == 2 and out == ""
    assert err == "monai-spacetx check: error: --figure needs matplotlib: python -m pip install matplotlib\n"


# ----------------------------------------------------------------------------- demo
def test_demo(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "crop [10:25, 10:25]" in out and "32x32" in out
    assert "working index [15.5, 15.5]" in out and "native index [17.0, 17.0]" in out
    assert "round-trip error: 0 px" in out


def test_python_dash_m_runs_the_same_main():
    done = subprocess.run([sys.executable, "-m", "monai_spacetx", "demo"], capture_output=True, text=True, check=True)
    assert "round-trip error: 0 px" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "monai_spacetx", "check"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("python -m monai_spacetx check: error: ")
    assert "Traceback" not in bad.stderr


# ----------------------------------------------------------------------------- bad input: one line, exit 2, before any work
@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    """Files no reader takes, or takes as something they are not."""
    folder = tmp_path_factory.mktemp("bad")
    (folder / "empty.nii.gz").write_bytes(b"")
    (folder / "corrupt.nii.gz").write_bytes(b"\x1f\x8b\x08 not really gzip" * 8)
    (folder / "notes.txt").write_text("this is not an image\n")
    (folder / "data.xyz").write_bytes(b"\x00\x01\x02\x03" * 16)
    (folder / "a_file").write_text("x")
    (folder / "binary.csv").write_bytes(bytes(range(256)))
    nib.save(nib.Nifti1Image(np.full((4, 4, 4), np.nan, np.float32), np.eye(4)), str(folder / "all_nan.nii.gz"))
    from PIL import Image

    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[5:20, 5:30, 0], rgb[10:25, 10:35, 1], rgb[8:12, 2:38, 2] = 200, 120, 90
    Image.fromarray(rgb).save(folder / "photo.png")
    return folder


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{bad}/empty.nii.gz", "--size", "8", "8", "8"], r"^image '.*empty\.nii\.gz': the file is empty \(0 bytes\)$"),
        (["{bad}/corrupt.nii.gz", "--size", "8", "8", "8"], r"^image '.*corrupt\.nii\.gz': cannot be read as an image by MONAI's LoadImage \(.+\)$"),
        (["{bad}/data.xyz", "--size", "8", "8", "8"], r"^image '.*data\.xyz': cannot be read as an image by MONAI's LoadImage \(not NIfTI, NRRD"),
        (["{case}/image.nii.gz", "--label", "{bad}/notes.txt", "--size", "8", "8", "8"], r"^--label '.*notes\.txt': cannot be read as an image"),
        (["{case}/image.nii.gz", "--label", "{bad}/empty.nii.gz", "--size", "8", "8", "8"], r"^--label '.*empty\.nii\.gz': the file is empty"),
        (["{case}/image.nii.gz", "--spacing", "1e-3"], r"^--spacing \[0\.001, 0\.001, 0\.001\] gives a working grid of about 1\.73e\+13 voxels, more than --max-voxels 134,217,728; use a coarser --spacing"),
        (["{case}/image.nii.gz", "--spacing", "1e-300"], r"^--spacing .* gives a working grid of about inf voxels"),
        (["{case}/image.nii.gz", "--size", "100000", "100000", "100000"], r"^the working grid would have shape \(100000, 100000, 100000\) = 1,000,000,000,000,000 voxels, more than --max-voxels 134,217,728; use a smaller --size"),
        (["{case}/image.nii.gz", "--size", "30", "30", "30", "--max-voxels", "20000"], r"^the working grid would have shape \(30, 30, 30\) = 27,000 voxels, more than --max-voxels 20,000"),
        (["{case}/image.nii.gz", "--crop-foreground", "50", "--margin", "100000", "--size", "8", "8", "8"], r"^the cropped grid would have shape .* more than --max-voxels .*; use a smaller --margin"),
        (["{case}/image.nii.gz", "--size", "8", "8", "8", "--max-voxels", "0"], r"^--max-voxels: must be >= 1, got 0$"),
        (["{case}/image.nii.gz", "--size", "8", "8", "8", "--figure", "fig.txt"], r"^--figure: matplotlib cannot write \.txt \('fig\.txt'\); use one of .*\.png"),
        (["{case}/image.nii.gz", "--size", "8", "8", "8", "--figure", "figure"], r"^--figure: matplotlib cannot write a file without an extension"),
        (["{case}/image.nii.gz", "--size", "8", "8", "8", "--figure", "{bad}/a_file/worst.png"], r"^--figure: cannot create '.*worst\.png': '.*a_file' is a file, not a folder$"),
        (["{case}/image.nii.gz", "--size", "8", "8", "8", "--figure", "{bad}"], r"^--figure: '.*bad\d*' is a folder; give a file name, e\.g\. '.*worst\.png'$"),
        (["{bad}/photo.png", "--volume", "0", "--spacing", "1"], r"^--volume: '.*photo\.png' is an RGB image, whose 3 channels are colours, not volumes; leave out --volume"),
        (["{bad}/no_such_folder", "--size", "8", "8", "8"], r"^image: no such file: '.*no_such_folder'$"),
        (["{case}/image.nii.gz", "--size", "8", "8", "8", "--landmarks", "{bad}/binary.csv"], r"^--landmarks '.*binary\.csv': cannot be read as text \('utf-8' codec"),
        (["{case}/image.nii.gz", "--size", "8", "8", "8", "--landmarks", "{bad}"], r"^--landmarks: a folder, not a file: '.*bad"),
        (["{bad}/all_nan.nii.gz", "--size", "8", "8", "8"], r"^image '.*all_nan\.nii\.gz': no finite intensity to threshold \(all NaN or infinite\); give --label$"),
    ],
    ids=["empty", "corrupt", "unknown-format", "label-not-image", "label-empty", "spacing-1e-3", "spacing-1e-300",
         "size-1e5", "size-over-budget", "margin-over-budget", "max-voxels-0", "figure-txt", "figure-no-suffix",
         "figure-under-a-file", "figure-folder", "rgb-volume", "missing-folder", "landmarks-binary", "landmarks-folder", "all-nan"],
)
def test_check_bad_input_is_one_line_exit_2_before_the_work(argv, message, case, bad_files, capsys, monkeypatch):
    folder, _ = case
    argv = [a.format(case=folder, bad=bad_files) for a in argv]
    called = []
    monkeypatch.setattr("monai_spacetx.compare.compare_roundtrip", lambda *a, **k: called.append(1))  # the work
    status, out, err = _check(argv, capsys)
    assert status == 2 and out == "" and not called, (argv, out, err)
    assert err.count("\n") == 1 and err.startswith("monai-spacetx check: error: "), err
    assert re.search(message, err[len("monai-spacetx check: error: "):].rstrip("\n")), err


def test_check_errors_from_a_subprocess_end_with_one_line_and_no_traceback(bad_files, case):
    """As a user sees it: progress lines (not a terminal) then the error as the last line; never a traceback."""
    folder, _ = case
    for argv, expected in (
        ([str(bad_files / "corrupt.nii.gz"), "--size", "8", "8", "8"], "cannot be read as an image"),
        ([str(folder / "image.nii.gz"), "--size", "100000", "100000", "100000"], "more than --max-voxels"),
    ):
        done = subprocess.run([sys.executable, "-m", "monai_spacetx", "check", *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stdout == "", done
        lines = done.stderr.strip().splitlines()
        assert "Traceback" not in done.stderr and lines[-1].startswith("python -m monai_spacetx check: error: "), done.stderr
        assert expected in lines[-1] and all(line.startswith("[") for line in lines[:-1]), done.stderr


def test_progress_bar_is_erased_before_an_error_on_a_terminal():
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = Progress(5, stream)
    bar("load the scan")
    bar.abort()
    bar.close()
    assert stream.getvalue().endswith("\r\033[K") and not stream.getvalue().endswith("\n")


def test_an_unexpected_error_is_one_line_exit_1_with_the_traceback_on_request(case, capsys, monkeypatch):
    folder, _ = case

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody planned for\nsecond line")

    monkeypatch.setattr("monai_spacetx.compare.compare_roundtrip", broken)
    status, out, err = _check([str(folder / "image.nii.gz"), "--size", "8", "8", "8"], capsys)
    assert status == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("monai-spacetx check: internal error: RuntimeError: something nobody planned for (a bug")
    assert "MONAI_SPACETX_TRACEBACK=1" in err
    monkeypatch.setenv("MONAI_SPACETX_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="something nobody planned for"):
        main(["check", "--quiet", str(folder / "image.nii.gz"), "--size", "8", "8", "8"])


def test_check_stand_in_threshold_ignores_a_nan_background(tmp_path, capsys):
    scan = np.full((12, 10, 6), np.nan, np.float32)
    scan[2:10, 2:8, 1:5] = 10.0
    scan[4:8, 4:6, 2:4] = 100.0
    nib.save(nib.Nifti1Image(scan, np.eye(4)), str(tmp_path / "nan_background.nii.gz"))
    status, out, err = _check([str(tmp_path / "nan_background.nii.gz"), "--spacing", "0.5", "--no-monai"], capsys)
    mean = float(np.nanmean(scan))
    assert status == 0 and err == "" and f"stand-in: image > {mean:g}" in out  # was 'image > nan': an empty label


def test_check_rgb_png_is_converted_to_luminance(bad_files, capsys):
    from PIL import Image

    from monai_spacetx.cli.inputs import load_case

    path = bad_files / "photo.png"
    status, out, err = _check([str(path), "--spacing", "1", "--no-monai"], capsys)
    assert status == 0 and err == ""
    assert "photo.png (RGB colours converted to luminance, 0.299 R + 0.587 G + 0.114 B" in out and "shape (40, 30)" in out
    data, _, note = load_case(path, None, None, None)
    assert tuple(data["image"].shape) == (1, 40, 30) and note.startswith("RGB colours")
    pil = np.asarray(Image.open(path).convert("L"), dtype=np.float64).T  # PIL's own luminance, rounded to uint8
    assert np.max(np.abs(data["image"][0].numpy() - pil)) <= 0.5


@pytest.fixture(scope="module")
def dicom_series(tmp_path_factory):
    """A 5-slice CT series (8 x 6 pixels of 0.7 x 0.8 mm, 2.5 mm apart) written with pydicom."""
    import pydicom  # a test dependency (pyproject's test extra): never skipped
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder = tmp_path_factory.mktemp("dicom") / "series"
    folder.mkdir()
    rows, cols, slices = 6, 8, 5
    grid = np.stack(np.meshgrid(np.arange(slices), np.arange(rows), np.arange(cols), indexing="ij"), -1)
    volume = np.where((((grid - (2, 2.5, 3.5)) / (2.2, 2.6, 3.4)) ** 2).sum(-1) <= 1, 300, 20).astype(np.int16)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    for k in range(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.PatientID, ds.InstanceNumber = "CT", "anonymous", k + 1
        ds.ImagePositionPatient = [-10.0, -20.0, 30.0 + 2.5 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.8, 0.7], 2.5
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = volume[k].tobytes()
        pydicom.dcmwrite(folder / f"slice{k:03d}.dcm", ds, enforce_file_format=True)
    return folder, volume


def test_check_reads_a_dicom_series_folder_as_monai_loadimage_does(dicom_series, capsys):
    import warnings

    from monai.transforms import LoadImage

    from monai_spacetx.cli.inputs import load_case

    folder, volume = dicom_series
    status, out, err = _check([str(folder), "--crop-foreground", "100", "--spacing", "0.35", "0.4", "1.25"], capsys)
    assert status == 0 and err == "", err
    assert "shape (8, 6, 5), spacing [0.7, 0.8, 2.5] mm" in out
    inside = next(line for line in out.splitlines() if "wrong voxels inside grid" in line).split()
    assert inside[4] == "0"  # a finer grid: ours exact
    data, _, _ = load_case(folder, None, None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = LoadImage(ensure_channel_first=True, image_only=True)(str(folder))
    assert np.array_equal(data["image"].numpy(), theirs.numpy())
    assert np.array_equal(data["image"].affine.numpy(), theirs.affine.numpy())
    assert np.array_equal(data["image"][0].numpy(), np.transpose(volume, (2, 1, 0)))  # (slice, row, col) -> (col, row, slice)


def test_check_dicom_folder_without_a_dicom_reader_is_one_line(dicom_series, capsys, monkeypatch):
    folder, _ = dicom_series
    monkeypatch.setattr("monai_spacetx.cli.inputs._dicom_reader", lambda: None)
    status, out, err = _check([str(folder), "--size", "8", "8", "8"], capsys)
    assert status == 2 and out == ""
    assert err == (f"monai-spacetx check: error: image {str(folder)!r}: a folder is read as a DICOM series, which needs "
                   "pydicom (python -m pip install pydicom) or itk\n")


# ----------------------------------------------------------------------------- the figure
def test_figure_shows_the_slice_with_most_label_when_nothing_is_wrong():
    from monai_spacetx.cli.figure import shown_slice

    label = np.zeros((4, 4, 6), np.uint8)
    label[1:3, 1:3, 4] = 1
    label[1, 1, 1] = 1
    nothing = [np.zeros(label.shape, bool)]
    assert shown_slice(nothing, label) == (4, "no wrong voxel anywhere: the slice with the most label")
    assert shown_slice(nothing, np.zeros_like(label)) == (3, "no wrong voxel and no label: the middle slice")
    wrong = np.zeros(label.shape, bool)
    wrong[0, 0, 2] = True
    assert shown_slice([nothing[0], wrong], label) == (2, "the slice with the most wrong voxels")


def test_outlines_are_closed_loops_so_a_dashed_style_shows():
    from monai_spacetx.cli.figure import outline_paths, pixel_edges

    box = np.zeros((7, 6), bool)
    box[1:6, 2:5] = True
    paths = outline_paths(box)
    assert len(paths) == 1  # one loop, not 16 one-pixel segments that each restart the dash pattern
    loop = paths[0]
    assert np.array_equal(loop[0], loop[-1]) and len(loop) == len(pixel_edges(box)) + 1
    assert np.array_equal(loop.min(axis=0), [0.5, 1.5]) and np.array_equal(loop.max(axis=0), [5.5, 4.5])
    two = np.zeros((7, 6), bool)
    two[0, 0] = two[3:5, 3:5] = True
    assert len(outline_paths(two)) == 2 and outline_paths(np.zeros((3, 3), bool)) == []


def test_figure_legend_sits_below_the_panels(case, tmp_path, capsys, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder, _ = case
    panels = []
    close = plt.close

    def measure_then_close(fig):
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            dashed = [c for c in ax.collections if c.get_label() == "working grid"]
            panels.append((ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer), dashed))
        close(fig)

    monkeypatch.setattr(plt, "close", measure_then_close)
    status, _, _ = _check([str(folder / "image.nii.gz"), "--size", "40", "36", "30", "--figure", str(tmp_path / "f.png")], capsys)
    assert status == 0 and len(panels) == 2
    for legend, panel, dashed in panels:
        assert legend.y1 <= panel.y0 + 1  # below the image: it cannot cover the orientation letters
        assert len(dashed) == 1 and dashed[0].get_linestyle()[0][1] is not None  # a dash pattern...
        assert len(dashed[0].get_paths()) == 1  # ...along one joined loop (not per one-pixel segment)
