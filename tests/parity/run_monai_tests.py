"""Run MONAI's own test files with MONAI's transform renamed to ours, and print a pass/fail table.

Not part of the test suite (it needs MONAI's test sources, which this repository does not
ship): the strongest outside judge of "renaming ``_target_`` is the whole migration".

    python tests/parity/run_monai_tests.py /path/to/MONAI          # a checkout or `git archive` export
    python tests/parity/run_monai_tests.py /path/to/MONAI --only test_spatial_crop.py --verbose

For each test file in :data:`SWAPS` it copies MONAI's ``tests`` folder to a temporary
directory, rewrites that one file so that every use of the MONAI class (outside the import
statements, which stay as they are) names ours instead, adds ``from monai_spacetx import ...``
after the imports, and runs pytest on it twice: as MONAI wrote it ("MONAI's own") and swapped
("ours"). The table counts pytest's tests and its subtests (pytest >= 9 reports unittest's
``subTest`` blocks); ``--verbose`` lists each failing test with its first error line.

Needs pytest >= 9 and MONAI's test dependencies (``parameterized``; put them on ``PYTHONPATH``
or install them). Nothing else is changed in MONAI's files except where :data:`EDITS` says
(MONAI's own skip of ``test_resize``'s correctness test for torch >= 2.2).
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

#: MONAI test file (relative to MONAI's ``tests/``) -> {MONAI class: our class}.
SWAPS: dict[str, dict[str, str]] = {
    "transforms/test_spatial_crop.py": {"SpatialCrop": "SpaceCrop"},
    "transforms/test_spatial_cropd.py": {"SpatialCropd": "SpaceCropd"},
    "transforms/test_spacing.py": {"Spacing": "SpaceSpacing"},
    "transforms/test_spacingd.py": {"Spacingd": "SpaceSpacingd"},
    "transforms/test_resize.py": {"Resize": "SpaceResize"},
    "transforms/test_resized.py": {"Resized": "SpaceResized"},
    "transforms/test_zoom.py": {"Zoom": "SpaceZoom"},
    "transforms/test_zoomd.py": {"Zoomd": "SpaceZoomd"},
    "transforms/test_crop_foreground.py": {"CropForeground": "SpaceCropForeground"},
    "transforms/test_crop_foregroundd.py": {"CropForegroundd": "SpaceCropForegroundd"},
    "transforms/inverse/test_inverse.py": {
        "SpatialCropd": "SpaceCropd",
        "CropForegroundd": "SpaceCropForegroundd",
        "Resized": "SpaceResized",
        "Spacingd": "SpaceSpacingd",
        "Zoomd": "SpaceZoomd",
    },
    "transforms/inverse/test_invertd.py": {"Invertd": "SpaceInvertd"},
    "transforms/inverse/test_invert.py": {"Invert": "SpaceInvert", "Spacing": "SpaceSpacing"},
    "transforms/test_rand_crop_by_pos_neg_label.py": {"RandCropByPosNegLabel": "SpaceRandCropByPosNegLabel"},
    "transforms/test_rand_crop_by_pos_neg_labeld.py": {"RandCropByPosNegLabeld": "SpaceRandCropByPosNegLabeld"},
    "transforms/test_rand_crop_by_label_classes.py": {"RandCropByLabelClasses": "SpaceRandCropByLabelClasses"},
    "transforms/test_rand_crop_by_label_classesd.py": {"RandCropByLabelClassesd": "SpaceRandCropByLabelClassesd"},
    "transforms/croppad/test_rand_weighted_crop.py": {"RandWeightedCrop": "SpaceRandWeightedCrop"},
    "transforms/croppad/test_rand_weighted_cropd.py": {"RandWeightedCropd": "SpaceRandWeightedCropd"},
}

#: MONAI test file -> (pattern, replacement) applied to both runs: MONAI skips test_resize's
#: value comparison for torch >= 2.2 (its issue 7445); the comparison is what we want to see.
EDITS: dict[str, list[tuple[str, str]]] = {
    "transforms/test_resize.py": [(r"\n(\s*)@SkipIfAtLeastPyTorchVersion\(\(2, 2, 0\)\)[^\n]*", "")],
    "transforms/test_resized.py": [(r"\n(\s*)@SkipIfAtLeastPyTorchVersion\(\(2, 2, 0\)\)[^\n]*", "")],
}


def swap_source(text: str, names: dict[str, str]) -> str:
    """``text`` with every use of a MONAI class in ``names`` renamed to ours (import statements
    untouched, attribute accesses such as ``monai.transforms.Spacing`` too), and our classes imported."""
    tree = ast.parse(text)
    import_lines: set[int] = set()
    last_import = 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            import_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            last_import = max(last_import, node.end_lineno or node.lineno)
    pattern = re.compile(r"(?<![.\w])(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")\b")
    lines = text.splitlines(keepends=True)
    out = []
    for number, line in enumerate(lines, start=1):
        out.append(line if number in import_lines else pattern.sub(lambda m: names[m.group(1)], line))
        if number == last_import:
            out.append(f"from monai_spacetx import {', '.join(sorted(set(names.values())))}  # swapped in\n")
    return "".join(out)


def run_pytest(tests_root: Path, relative: str, timeout: int) -> tuple[dict[str, int], list[tuple[str, str]], str]:
    """pytest on one file: counts (tests and subtests passed/failed/skipped) and the failures."""
    junit = tests_root.parent / "junit.xml"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tests_root.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "junit_family=xunit1"]
    try:
        proc = subprocess.run(
            [*cmd, str(tests_root / relative)], cwd=tests_root.parent, env=env, capture_output=True, text=True, timeout=timeout
        )
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [""]
    except subprocess.TimeoutExpired:
        return {"error": 1}, [("(timeout)", f"over {timeout} s")], "timeout"
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    summary = tail[0]
    for number, what in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summary):
        counts[what.rstrip("s") if what.startswith("error") else what] = int(number)
    for number, what in re.findall(r"(\d+) subtests? (passed|failed|skipped)", summary):
        counts[f"sub {what}"] = int(number)
    failures: list[tuple[str, str]] = []
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            for bad in list(case.findall("failure")) + list(case.findall("error")):
                message = (bad.get("message") or bad.text or "").strip().splitlines()
                failures.append((case.get("name", "?"), message[0][:160] if message else ""))
        junit.unlink()
    return counts, failures, summary


def fmt(counts: dict[str, int]) -> str:
    parts = [f"{counts.get('passed', 0)} pass", f"{counts.get('failed', 0) + counts.get('error', 0)} fail"]
    if counts.get("skipped"):
        parts.append(f"{counts['skipped']} skip")
    if counts.get("sub passed") or counts.get("sub failed"):
        parts.append(f"subtests {counts.get('sub passed', 0)} pass / {counts.get('sub failed', 0)} fail")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("monai", type=Path, help="a MONAI checkout or export (the folder holding tests/)")
    parser.add_argument("--only", action="append", default=[], help="run only test files whose path ends with this")
    parser.add_argument("--no-monai", action="store_true", help="skip the run of MONAI's own (unswapped) file")
    parser.add_argument("--verbose", action="store_true", help="list each failing test with its first error line")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per pytest run")
    args = parser.parse_args(argv)
    source = args.monai / "tests"
    if not source.is_dir():
        parser.error(f"{args.monai} has no tests/ folder")
    rows = []
    with tempfile.TemporaryDirectory(prefix="monai-swapped-") as tmp:
        root = Path(tmp) / "tests"
        shutil.copytree(source, root, ignore=shutil.ignore_patterns("testing_data", "__pycache__"))
        for relative, names in SWAPS.items():
            if args.only and not any(relative.endswith(o) for o in args.only):
                continue
            path = root / relative
            if not path.exists():
                rows.append((relative, "(not in this MONAI version)", "", []))
                continue
            original = path.read_text()
            for pattern, replacement in EDITS.get(relative, []):
                original = re.sub(pattern, replacement, original)
            theirs = "-"
            if not args.no_monai:
                path.write_text(original)
                theirs = fmt(run_pytest(root, relative, args.timeout)[0])
            try:
                import monai_spacetx  # noqa: F401  (is our package importable?)

                missing = [n for n in set(names.values()) if not hasattr(sys.modules["monai_spacetx"], n)]
            except ImportError as err:
                missing = [f"monai_spacetx ({err})"]
            if missing:
                rows.append((relative, theirs, f"(not in monai_spacetx: {', '.join(sorted(missing))})", []))
                continue
            path.write_text(swap_source(original, names))
            counts, failures, _ = run_pytest(root, relative, args.timeout)
            path.write_text(original)
            rows.append((relative, theirs, fmt(counts), failures))
            print(f"{relative}: MONAI's own {theirs} | ours {fmt(counts)}", file=sys.stderr, flush=True)
    print("| MONAI test file | swapped | MONAI's own | ours, swapped |")
    print("|---|---|---|---|")
    for relative, theirs, ours, _ in rows:
        swapped = ", ".join(f"`{k}`->`{v}`" for k, v in SWAPS[relative].items())
        print(f"| `{relative}` | {swapped} | {theirs} | {ours} |")
    if args.verbose:
        for relative, _, _, failures in rows:
            seen: dict[tuple[str, str], int] = {}
            for failure in failures:  # a test's failing subtests repeat its name: count them
                seen[failure] = seen.get(failure, 0) + 1
            for (name, message), times in seen.items():
                print(f"FAIL {relative}::{name}{f' (x{times})' if times > 1 else ''}: {message}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
