"""Tutorial 06 on torch.distributed: one process and two (torchrun, gloo) write the same bytes; a rerun
skips; a killed write leaves no half file; the multi-GPU bundle config runs under torchrun too.

Oracles: the scans' own files (each output must carry its scan's shape and affine, read by nibabel), the
stand-in network's ideal answer (the threshold of the scan itself, computed here with numpy), and
byte equality between runs; the processes are real subprocesses started as a user starts them.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tutorials" / "06_cohort_inference.py"
CONFIG = ROOT / "tutorials" / "06_multi_gpu_inference.json"
CASES = 5  # two ranks get 3 and 2: an uneven share
LESION = 100.0  # the stand-in network's level (HU), as in the tutorial


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["CUDA_VISIBLE_DEVICES"] = ""  # gloo on CPU, even on a machine with GPUs
    return env


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=_env(), timeout=600)


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    launcher = ["-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                "--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    return _python(*launcher, *args, cwd=cwd)


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "06_cohort" / "seg").iterdir())}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The cohort segmented by one plain process (no torchrun), and by two torchrun processes."""
    folder = tmp_path_factory.mktemp("cohort")
    one = _python(str(SCRIPT), "--out", "one", "--cases", str(CASES), cwd=folder)
    assert one.returncode == 0, one.stderr[-3000:]
    scans = folder / "one" / "06_cohort" / "scans"
    two = _torchrun(str(SCRIPT), "--out", "two", "--data", str(scans), cwd=folder)
    assert two.returncode == 0, two.stderr[-3000:]
    return folder, scans, one, two


def test_one_and_two_processes_write_the_same_bytes(runs):
    folder, scans, one, two = runs
    first, second = _outputs(folder / "one"), _outputs(folder / "two")
    assert sorted(first) == [f"case{i:03d}_seg.nii.gz" for i in range(CASES)]
    assert first == second  # byte for byte, whatever the number of processes
    # each rank took its share, and only rank 0 printed the summary
    assert "[06] cohort of 5 scans on 2 process(es)" in two.stdout and two.stdout.count("[06] total: 5 written, 0 skipped") == 1
    assert "[06] rank 0 (cpu): 3 scans, 3 written" in two.stdout and "[06] rank 1 (cpu): 2 scans, 2 written" in two.stdout
    assert "[06] cohort of 5 scans on 1 process(es)" in one.stdout


def test_outputs_lie_on_their_scans_and_match_the_ideal_answer(runs):
    folder, scans, _, _ = runs
    shapes = set()
    for index in range(CASES):
        scan = nib.load(str(scans / f"case{index:03d}.nii.gz"))
        seg = nib.load(str(folder / "one" / "06_cohort" / "seg" / f"case{index:03d}_seg.nii.gz"))
        assert seg.shape == scan.shape and seg.get_data_dtype() == np.uint8
        np.testing.assert_allclose(seg.affine, scan.affine, rtol=0, atol=1e-5)
        label, ideal = np.asarray(seg.dataobj), np.asarray(scan.dataobj) > LESION
        assert set(np.unique(label).tolist()) <= {0, 1} and ideal.any()
        dice = 2 * np.count_nonzero(label.astype(bool) & ideal) / (np.count_nonzero(label) + np.count_nonzero(ideal))
        assert dice > 0.9, (index, dice)
        shapes.add(scan.shape)
        assert not np.allclose(scan.affine[:3, :3], np.diag(np.diag(scan.affine[:3, :3])))  # oblique
    assert len(shapes) == CASES  # a cohort of different grids


def test_a_killed_write_leaves_no_half_file_and_the_rerun_finishes_it(runs):
    folder, scans, _, _ = runs
    expected = _outputs(folder / "one")
    crashed = _python(str(SCRIPT), "--out", "crash", "--data", str(scans), "--simulate-crash", "2", cwd=folder)
    assert crashed.returncode != 0  # killed halfway through writing its second output
    seg = folder / "crash" / "06_cohort" / "seg"
    finished = sorted(p.name for p in seg.iterdir() if not p.name.startswith("."))
    assert finished == ["case000_seg.nii.gz"]  # the one complete file; none half-written under its final name
    assert (seg / "case000_seg.nii.gz").read_bytes() == expected["case000_seg.nii.gz"]
    parts = [p for p in seg.iterdir() if p.name.startswith(".case001_seg.nii.gz.")]
    assert len(parts) == 1 and 0 < parts[0].stat().st_size < len(expected["case001_seg.nii.gz"])  # the temporary file, half written
    before = (seg / "case000_seg.nii.gz").stat().st_mtime_ns
    rerun = _python(str(SCRIPT), "--out", "crash", "--data", str(scans), cwd=folder)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "removed 1 temporary file(s)" in rerun.stdout and "[06] total: 4 written, 1 skipped" in rerun.stdout
    assert "case000.nii.gz     rank 0  skipped (already written)" in rerun.stdout
    assert (seg / "case000_seg.nii.gz").stat().st_mtime_ns == before  # skipped: not rewritten
    assert _outputs(folder / "crash") == expected  # no temporary file left, every output complete


def test_write_atomically_keeps_the_old_file_when_a_write_fails(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("cohort_lesson", SCRIPT)
    lesson = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lesson)
    target = tmp_path / "out.bin"
    lesson.write_atomically(target, b"old")

    def broken(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lesson.os, "replace", broken)
    with pytest.raises(OSError):
        lesson.write_atomically(target, b"new contents")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_multi_gpu_bundle_config_parses_instantiates_and_runs_under_torchrun(runs, tmp_path):
    from monai.bundle import ConfigParser
    from monai.transforms import Compose

    parser = ConfigParser()
    parser.read_config(str(CONFIG))
    parser["dataset_dir"] = str(runs[1])
    for name in ("preprocessing", "postprocessing"):
        steps = parser.get_parsed_content(name)
        assert isinstance(steps, Compose)
    names = [type(t).__name__ for t in parser.get_parsed_content("preprocessing").transforms + parser.get_parsed_content("postprocessing").transforms]
    assert {"SpaceCropForegroundd", "SpaceResampled", "SpaceInvertd"} <= set(names)
    assert len(parser.get_parsed_content("dataset")) == CASES
    assert parser["sampler"]["_target_"] == "DistributedSampler" and parser["sampler"]["even_divisible"] is False
    # as `python -m monai.bundle run` runs it (without MONAI's `fire` dependency), on two gloo processes
    runner = tmp_path / "run_bundle.py"
    runner.write_text("import sys\nfrom monai.bundle import run\nrun(config_file=sys.argv[1], dataset_dir=sys.argv[2], output_dir=sys.argv[3])\n")
    done = _torchrun(str(runner), str(CONFIG), str(runs[1]), str(tmp_path / "bundle"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = sorted(p.name for p in (tmp_path / "bundle").iterdir())
    assert saved == [f"case{i:03d}_seg.nii.gz" for i in range(CASES)]  # each scan once, whichever rank had it
    for name in saved:  # the same labels as the tutorial's script (its network is this config's, as a module)
        ours = nib.load(str(tmp_path / "bundle" / name))
        script = nib.load(str(runs[0] / "one" / "06_cohort" / "seg" / name))
        np.testing.assert_array_equal(np.asarray(ours.dataobj), np.asarray(script.dataobj))
        np.testing.assert_allclose(ours.affine, script.affine, rtol=0, atol=1e-6)
