"""Mutation check: plant deliberate bugs in a copy of the package and show that the suite fails for each.

Each mutation is a few text substitutions in ``monai_spacetx`` (the cubic kernel's ``A``, the
nearest tie rule, a dropped mode vote in lazy fusion, an off-by-one crop box, swapped axes in
the record reader, the argmax tie rule). For each one the script copies the package to a
temporary folder, applies the substitutions there (never to the repository), and runs the test
files that guard that part of the code against the copy (``PYTHONPATH`` pointing at it; a small
pytest plugin checks that ``monai_spacetx`` really is imported from the copy and not from the
installed editable package). A mutation is *caught* when a test that passes on the unmutated
copy fails on the mutated one; the report lists those tests. A substitution whose text is no
longer in the package is an error (exit code 2): the code moved, and the mutation must be
updated rather than silently skipped.

Run from the repository root (about 3 minutes on 2 cores)::

    python tests/mutation/run_mutations.py                 # the working tree's package
    python tests/mutation/run_mutations.py --ref HEAD       # the package as committed
    python tests/mutation/run_mutations.py --only cubic-a   # one mutation

Exit code: 0 when every mutation is caught, 1 when one survives, 2 on a stale pattern.
Not collected by pytest (its name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "monai_spacetx"


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` by ``new`` in ``path`` (relative to the package): ``count`` occurrences exactly.

    ``optional``: the file may be absent (a module another change is adding); when it is there,
    the text must be too. ``text_optional``: the text may be absent too (code being rewritten
    while this list was written); every mutation keeps at least one edit that is neither.
    """

    path: str
    old: str
    new: str
    count: int = 1
    optional: bool = False
    text_optional: bool = False


@dataclass(frozen=True)
class Mutation:
    name: str
    bug: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]  # pytest arguments: files, node ids, ``-k`` expressions go in ``select``
    select: str = ""
    needs: tuple[str, ...] = field(default_factory=tuple)  # files (relative to the package) that must exist


MUTATIONS = (
    Mutation(
        "cubic-a",
        "Keys' cubic with A = -0.5 instead of -0.75 (torch's bicubic)",
        (Edit("engine/taps.py", "CUBIC_A = -0.75", "CUBIC_A = -0.5"),),
        ("tests/test_engine.py",),
        select="cubic",
    ),
    Mutation(
        "nearest-tie",
        "nearest: a centre exactly between two voxels goes to the lower index (ceil(x - 0.5))",
        (
            Edit("engine/taps.py", "torch.floor(x + 0.5).long()", "torch.ceil(x - 0.5).long()"),
            Edit("engine/general.py", "matrix[:ndim, ndim] += 0.5 + SNAP_TOL", "matrix[:ndim, ndim] += 0.5 - SNAP_TOL"),
            # the chain's, the lazy sink's and the compiled fallback's rule: geometry.points.nearest_voxel
            Edit("geometry/points.py", "np.floor(snap(np.asarray(continuous, dtype=np.float64) + 0.5))",
                 "np.ceil(snap(np.asarray(continuous, dtype=np.float64) - 0.5))"),
            Edit("engine/compiled/_args.py", "m[:ndim, ndim] += 0.5 + SNAP_TOL", "m[:ndim, ndim] += 0.5 - SNAP_TOL", optional=True),
            Edit("engine/compiled/_args.py", "origin3[0] = 0.5 + SNAP_TOL", "origin3[0] = 0.5 - SNAP_TOL", optional=True),
            Edit("engine/compiled/compose.py", "y0, y1, y2 = y0 + 0.5, y1 + 0.5, y2 + 0.5", "y0, y1, y2 = y0 - 0.5, y1 - 0.5, y2 - 0.5", optional=True),
            Edit("engine/compiled/compose.py", "p0, p1, p2 = math.floor(y0), math.floor(y1), math.floor(y2)", "p0, p1, p2 = math.ceil(y0), math.ceil(y1), math.ceil(y2)", optional=True),
        ),
        ("tests/test_engine.py", "tests/test_engine_exactness.py", "tests/test_compat_monai.py"),
        select="nearest or tie or centre or seed or index",
    ),
    Mutation(
        "lazy-vote",
        "lazy fusion drops the recorded modes of MONAI's pending operations (op_votes returns nothing)",
        (Edit("transforms/lazy.py", "            votes.append(mode)\n    return votes", "            pass\n    return votes"),),
        ("tests/test_lazy.py", "tests/test_compat_monai.py"),
        select="lazy or fused or vote or mode or chain",
    ),
    Mutation(
        "crop-off-by-one",
        "Space.crop shifts the box by one voxel (start + 1)",
        (
            Edit(
                "geometry/space.py",
                "matrix[: self.ndim, self.ndim] = start_v\n        return self._derive(matrix, end_v - start_v)",
                "matrix[: self.ndim, self.ndim] = start_v + 1\n        return self._derive(matrix, end_v - start_v)",
            ),
        ),
        ("tests/test_compat_monai.py", "tests/test_engine.py"),
        select="crop or index",
    ),
    Mutation(
        "record-crop-axes",
        "record reader: a MONAI crop's offsets read in reversed axis order",
        (
            Edit(
                "transforms/records.py",
                'return _shift([float(c) for c in list(extra["cropped"])[0::2]], ndim)',
                'return _shift([float(c) for c in list(extra["cropped"])[0::2]][:ndim][::-1], ndim)',
            ),
        ),
        ("tests/test_records.py", "tests/test_compat_monai.py"),
        select="reader or map_back or orientation_and_flip or invertd or crop",
    ),
    Mutation(
        "record-flip-axis",
        "record reader: a MONAI flip is undone along the mirrored axis (ndim - 1 - axis)",
        (
            Edit(
                "transforms/records.py",
                "for axis in (int(a) % ndim for a in listed):",
                "for axis in (ndim - 1 - int(a) % ndim for a in listed):",
            ),
        ),
        ("tests/test_records.py", "tests/test_compat_monai.py"),
        select="reader or map_back or orientation_and_flip or invertd",
    ),
    Mutation(
        "argmax-tie",
        "argmax export: an exact tie goes to the larger class",
        (
            # the dense (cubic) path's running maximum over channel groups
            Edit("engine/export.py", "better = top > best", "better = top >= best"),
            # the linear path's candidates are scored in ascending class order (first maximum = smallest class);
            # that code is being rewritten, so each of its two forms is mutated where present
            Edit("engine/export.py", "torch.where(values[1] > values[0], high, low)", "torch.where(values[1] >= values[0], high, low)", count=2, text_optional=True),
            Edit("engine/export.py", "cand = corner_classes.index_select(1, many).sort(0).values",
                 "cand = corner_classes.index_select(1, many).sort(0, descending=True).values", text_optional=True),
            Edit("engine/export.py", "cand = torch.stack([low[part], high[part]])", "cand = torch.stack([high[part], low[part]])", text_optional=True),
            Edit("engine/export.py", "cand = corner_classes[:, part].sort(0).values", "cand = corner_classes[:, part].sort(0, descending=True).values", text_optional=True),
            # the compiled export (CPU): a certified pair's tie, the corner classes' tie, the full-K tie
            Edit("engine/compiled/export.py", "            if other > best:", "            if other >= best:"),
            Edit("engine/compiled/export.py", "if score > best or (score == best and candidates[m] < winner):", "if score >= best:"),
            Edit("engine/compiled/export.py", "                    if score > best:\n", "                    if score >= best:\n"),
        ),
        ("tests/test_engine.py", "tests/test_export.py"),
        select="argmax or ties",
        needs=("engine/export.py",),
    ),
)

GUARD = '''
import os
import monai_spacetx


def pytest_configure(config):
    where = os.path.realpath(monai_spacetx.__file__)
    expected = os.path.realpath(os.environ["MUTATION_PACKAGE_ROOT"])
    if not where.startswith(expected + os.sep):
        raise SystemExit(f"mutation guard: monai_spacetx imported from {where}, not from the copy under {expected}")
'''


class StalePattern(Exception):
    pass


def copy_package(dest: Path, ref: str | None) -> None:
    """The package as in the working tree, or as committed at ``ref``, into ``dest / PACKAGE``."""
    if ref is None:
        shutil.copytree(ROOT / PACKAGE, dest / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return
    archive = subprocess.run(["git", "archive", "--format=tar", ref, PACKAGE], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest)


def apply(mutation: Mutation, package: Path) -> list[str]:
    """Apply the mutation's edits to the copy; raise StalePattern when a text is not there as expected."""
    done = []
    for edit in mutation.edits:
        path = package / edit.path
        if not path.exists():
            if edit.optional:
                continue
            raise StalePattern(f"{mutation.name}: {edit.path} does not exist")
        text = path.read_text()
        found = text.count(edit.old)
        if found == 0 and edit.text_optional:
            continue
        if found != edit.count:
            raise StalePattern(f"{mutation.name}: {edit.path}: expected {edit.count} x {edit.old!r}, found {found}")
        path.write_text(text.replace(edit.old, edit.new))
        done.append(f"{edit.path}: {edit.old!r} -> {edit.new!r}")
    return done


def run_tests(copy_root: Path, tests: tuple[str, ...], select: str) -> tuple[set[str], int, str]:
    """Run pytest on ``tests`` against the copy; returns (failed node ids, passed count, output tail)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy_root), str(copy_root / "_guard")])
    env["MUTATION_PACKAGE_ROOT"] = str(copy_root / PACKAGE)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mutation_guard", "-rf", "--tb=no",
            "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), *[str(ROOT / t) for t in tests]]
    if select:
        argv += ["-k", select]
    done = subprocess.run(argv, cwd=copy_root, env=env, capture_output=True, text=True)
    out = done.stdout + done.stderr
    if "mutation guard:" in out:
        raise SystemExit(out[-2000:])
    failed = set(re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", out, flags=re.M))
    failed = {"tests/" + node.split("tests/", 1)[-1] if "tests/" in node else node for node in failed}
    passed = sum(int(n) for n in re.findall(r"(\d+) passed", out))
    if done.returncode not in (0, 1):  # 2: interrupted / collection error, 5: nothing collected
        failed.add(f"<pytest exit {done.returncode}>")
    return failed, passed, out[-1500:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default=None, help="copy the package as committed at this git ref (default: the working tree)")
    parser.add_argument("--only", action="append", default=None, help="run only this mutation (repeatable)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.only is None or m.name in args.only]
    if not chosen:
        parser.error(f"no mutation named {args.only}; known: {[m.name for m in MUTATIONS]}")
    results = []
    with tempfile.TemporaryDirectory(prefix="spacetx_mutation_") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        copy_package(base, args.ref)
        (base / "_guard").mkdir()
        (base / "_guard" / "mutation_guard.py").write_text(GUARD)
        probe = subprocess.run([sys.executable, "-c", "import monai_spacetx; print(monai_spacetx.__file__)"], cwd=base,
                               env={**os.environ, "PYTHONPATH": str(base)}, capture_output=True, text=True)
        print(f"package under test: {probe.stdout.strip() or probe.stderr.strip()[-300:]}", flush=True)
        # every pattern first, so that a stale one stops the run before any test runs
        present = []
        for mutation in chosen:
            if any(not (base / PACKAGE / need).exists() for need in mutation.needs):
                print(f"[{mutation.name}] skipped: {', '.join(mutation.needs)} not in the package", flush=True)
                continue
            trial = Path(tmp) / f"check_{mutation.name}"
            shutil.copytree(base / PACKAGE, trial / PACKAGE)
            try:
                apply(mutation, trial / PACKAGE)
            except StalePattern as err:
                print(f"STALE PATTERN: {err}", file=sys.stderr)
                return 2
            shutil.rmtree(trial)
            present.append(mutation)
        for mutation in present:
            started = time.perf_counter()
            baseline_failed, baseline_passed, tail = run_tests(base, mutation.tests, mutation.select)
            if baseline_passed == 0:
                print(f"[{mutation.name}] no test selected or ran on the unmutated copy:\n{tail}", file=sys.stderr)
                return 2
            work = Path(tmp) / mutation.name
            shutil.copytree(base, work)
            edits = apply(mutation, work / PACKAGE)
            failed, passed, _ = run_tests(work, mutation.tests, mutation.select)
            caught = sorted(failed - baseline_failed)
            results.append((mutation, caught, baseline_failed))
            print(f"[{mutation.name}] {mutation.bug}\n  edits: " + "\n         ".join(edits), flush=True)
            if baseline_failed:
                print(f"  (already failing without the mutation, ignored: {sorted(baseline_failed)})")
            verdict = f"CAUGHT by {len(caught)} test(s)" if caught else "SURVIVED"
            print(f"  {verdict} ({baseline_passed} selected tests pass unmutated; {time.perf_counter() - started:.0f} s)")
            for node in caught:
                print(f"    {node}")
            shutil.rmtree(work)
    print("\n| mutation | bug | caught by |\n|---|---|---|")
    for mutation, caught, _ in results:
        shown = ", ".join(f"`{c.split('tests/')[-1]}`" for c in caught[:4]) + (f" and {len(caught) - 4} more" if len(caught) > 4 else "")
        print(f"| {mutation.name} | {mutation.bug} | {shown or '**survived**'} |")
    return 0 if all(caught for _, caught, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
