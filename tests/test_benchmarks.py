"""The peer comparisons in benchmarks/ that are fast enough for the suite: the seed experiment."""

from __future__ import annotations

import runpy
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_seed_experiment(tmp_path, capsys):
    bench = runpy.run_path(str(BENCHMARKS / "bench_seed.py"))
    result = bench["main"](tmp_path)
    methods = result["methods"]
    ours = methods["monai-spacetx"]
    assert ours["status"] == "ok" and ours["keypoint_error_px"] < 1e-9 and ours["wrong_pixels"] == 0
    for name, r in methods.items():  # every peer really ran (the test extras install them)
        assert r["status"] == "ok", (name, r["status"])
    # deterministic: each peer's exact count and error (the README's seed table, tests/test_readme.py)
    expected = {
        "SimpleITK": (0.176777, 0),
        "scipy.ndimage zoom": (0.375650, 0),
        "torch F.interpolate": (0.375650, 17),
        "MONAI SpatialCropd+Resized+Invertd": (0.0, 17),
        "monai-spacetx": (0.0, 0),
    }
    assert set(methods) == set(expected)
    for name, (error, wrong) in expected.items():
        assert methods[name]["wrong_pixels"] == wrong, name
        assert abs(methods[name]["keypoint_error_px"] - error) <= 5e-7, (name, methods[name]["keypoint_error_px"])
    assert Path(result["figure"]).read_bytes()[:4] == b"\x89PNG"
    assert "keypoint error (px)" in capsys.readouterr().out


def test_seed_experiment_reports_a_missing_peer_as_skipped(monkeypatch):
    import sys

    bench = runpy.run_path(str(BENCHMARKS / "bench_seed.py"))
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # import SimpleITK -> ImportError
    r = bench["run_method"]("SimpleITK", bench["create_test_image"]())
    assert r["status"].startswith("skipped") and r["keypoint_error_px"] is None


def test_pipeline_benchmark_quick(monkeypatch, capsys):
    import torch

    monkeypatch.syspath_prepend(str(BENCHMARKS))  # what `python benchmarks/bench_pipeline.py` gives its imports
    threads = torch.get_num_threads()
    try:
        bench = runpy.run_path(str(BENCHMARKS / "bench_pipeline.py"))
        results = bench["main"](["--quick", "--repeats", "1", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)  # the benchmark sets torch's process-wide thread count
    assert set(results) == {"inference, finer grid", "inference, coarser grid", "training, RandAffined"}
    for name, rows in results.items():
        ours = rows["ours lazy"].outcome
        # one interpolation deep per key, by our engine: the label is one nearest warp of the loaded label.
        # Passes: SpaceCropd's output is never computed (SpaceResampled reads its input): one pass per key
        assert ours.one_warp and ours.forward == {"ours": 2, "monai": 0}, (name, ours.forward)
        assert rows["ours lazy, MONAI crop"].outcome.forward == {"ours": 2, "monai": 0}, name  # 1 pass per key
        assert ours.label_values == 4 and ours.label_dtype == "uint8", name
        assert rows["MONAI lazy"].outcome.label_values > 4, name  # MONAI issue #6850: the label was interpolated
        monai_eager = rows["MONAI eager"].outcome
        assert monai_eager.forward == {"ours": 0, "monai": 2 * (3 if "RandAffined" in name else 2)}, name  # the counter sees MONAI
        assert not monai_eager.one_warp, name
    assert results["inference, finer grid"]["ours lazy"].outcome.wrong == 0
    assert "| ours lazy |" in capsys.readouterr().out


def test_benchmarks_share_one_harness_without_path_hacks():
    for path in BENCHMARKS.glob("bench_*.py"):
        assert "sys.path" not in path.read_text(), path.name


def test_downsampling_quality_on_a_real_scan(capsys, monkeypatch):
    """anti_aliasing halves the error of a 4x shrink and agrees with MONAI's; the separate thick axis
    invents fewer intensities than cubic everywhere."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as `python benchmarks/x.py` does, for `import _common`
    result = runpy.run_path(str(BENCHMARKS / "bench_downsampling.py"))["main"]()
    plain, smoothed, monai = (float(row[1]) for row in result["anti_aliasing"])
    assert smoothed < 0.6 * plain and abs(smoothed - monai) < 2e-3
    overshoot = {row[0]: int(row[2]) for row in result["thick_axis"]}
    assert overshoot["linear"] == 0
    assert overshoot["cubic in-plane, nearest along the thick axis"] < 0.5 * overshoot["cubic"]
    assert "relative RMS error" in capsys.readouterr().out
