"""The main job: the quickstart, then the lessons, one after another.

Run from the repository root, no arguments needed::

    python tutorials/main.py            # numbers on stdout, figures and NIfTI files in ./outputs/

``--out FOLDER`` writes elsewhere. Each lesson is also a script of its own.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent

LESSONS = (
    ("00_quickstart.py", "quickstart: crop -> resample -> network -> map back -> save, on a real MR scan"),
    ("02_epi_inference_roundtrip.py", "inference round trip on an oblique EPI scan: masks and probabilities back, saved to overlay"),
    ("03_landmarks.py", "landmarks: detect on the working grid, map back to the scan in mm"),
    ("04_run_bundle.py", "a MONAI bundle config using the Space transforms"),
    ("05_training_augmentation.py", "training augmentation: MONAI lazy RandAffined + SpaceResampled, image, label and landmarks in one resample"),
    ("06_cohort_inference.py", "a cohort of oblique scans, one process here (torchrun for several): atomic outputs, reruns skip"),
    ("07_detection.py", "detection: boxes forward and back on an oblique scan, oriented or axis-aligned, index or world mm"),
)


def load_lesson(filename: str) -> ModuleType:
    """Import a lesson script by file name (their names start with a digit, so ``import`` cannot)."""
    name = "lesson_" + Path(filename).stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / filename)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def main(out_dir: Path = Path("outputs")) -> dict[str, Any]:
    """Run every lesson, writing into ``out_dir``; returns each lesson's result by file name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"monai-spacetx main job: writing figures and files to {out_dir.resolve()}")
    started = time.perf_counter()
    results = {}
    for number, (filename, title) in enumerate(LESSONS, start=1):
        print(f"\n=== [{number}/{len(LESSONS)}] {filename}: {title} ({time.perf_counter() - started:.1f} s elapsed) ===", flush=True)
        results[filename] = load_lesson(filename).main(out_dir)
    print(f"\n=== done in {time.perf_counter() - started:.1f} s; files in {out_dir.resolve()} ===")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default: ./outputs)")
    main(parser.parse_args().out)
