"""The command line: ``monai-spacetx`` / ``python -m monai_spacetx``, its help, errors and ``check``."""

from __future__ import annotations

import json
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
        ([image, "--landmarks", str(bad), "--size", "8", "8", "8"], "expected N x 3 coordinates"),
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
    status, out, _ = _check(["--example", "anatomical.nii", "--roi", "4", "4", "4", "28", "36", "20", "--spacing", "1.5"], capsys)
    assert status == 0 and "anatomical.nii" in out and "axes LAS" in out


def test_check_progress_goes_to_stderr(case, capsys):
    folder, _ = case
    assert main(["check", str(folder / "image.nii.gz"), "--size", "12", "10", "6"]) == 0
    out, err = capsys.readouterr()
    steps = err.strip().splitlines()
    assert len(steps) == 7 and steps[0].startswith("[") and steps[-1].startswith("[" + "#" * 24 + "] 7/7")
    assert "[" not in out.splitlines()[0]


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
