"""Every code block in README.md is run (or, for installs, checked for shape), and `.ci/run` runs the README's two commands.

The README is the front page; what it used to hold at length now lives in docs/ pages, and is
checked here as before: the ``python`` blocks of the pages in ``DOC_PAGES`` run too, and the
benchmark tables and the prose that quotes them are checked in docs/benchmarks.md.

- ``python`` blocks run as scripts in a fresh process, the way a reader pastes them into a file;
- ``bash`` blocks that call ``monai-spacetx`` run; the ``text`` block after a command is its real
  output and must match a fresh run (the timing row aside);
- ``bash`` blocks that install (``pip install``, ``git clone``) are checked for shape only: they
  need a network and change the environment. `.ci/run` executes the two that matter (the main
  job in a brand-new virtual environment, then the test suite).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BENCHMARKS = (ROOT / "docs" / "benchmarks.md").read_text()  # the README's benchmark tables live there
MAIN_JOB = 'python -m pip install -c constraints-dev.txt -e ".[tutorials]" && python tutorials/main.py'
TEST_SUITE = 'python -m pip install -c constraints-dev.txt -e ".[test,tutorials,bench,io]" && python -m pytest -q'
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
#: docs/ pages whose ``python`` blocks run here as the README's do (they hold the README's former sections).
DOC_PAGES = ("guide.md", "mapback_modes.md")
PYTHON_BLOCKS: dict[str, str] = {}  # where -> block; a block shown on two pages runs once
for _page, _text in [("README.md", README)] + [(page, (ROOT / "docs" / page).read_text()) for page in DOC_PAGES]:
    for _i, _block in enumerate(re.findall(r"```python\n(.*?)```", _text, flags=re.S)):
        if _block not in PYTHON_BLOCKS.values():
            PYTHON_BLOCKS[f"{_page}[{_i}]"] = _block


def _blocks(kind: str) -> list[str]:
    return [body for language, body in BLOCKS if language == kind]


def _is_install(block: str) -> bool:
    return "pip install" in block or "git clone" in block


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_every_block_is_covered_here():
    kinds = {language for language, _ in BLOCKS}
    assert kinds <= {"python", "bash", "text"}, kinds
    assert _blocks("python") and _blocks("bash")
    assert set(_blocks("python")) <= set(PYTHON_BLOCKS.values())
    for page in DOC_PAGES:  # the pages whose blocks run here hold no other kind of block
        kinds = set(re.findall(r"```(\w+)\n", (ROOT / "docs" / page).read_text()))
        assert kinds <= {"python", "text", "yaml"}, (page, kinds)


# ----------------------------------------------------------------------------- the two commands and CI
def test_readme_has_the_two_commands_as_their_own_blocks():
    bash = [b.strip() for b in _blocks("bash")]
    assert MAIN_JOB in bash and TEST_SUITE in bash


def test_ci_runs_the_main_job_in_a_fresh_venv_then_ends_with_the_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    lines = [ln.strip() for ln in script.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert "set -euo pipefail" in lines
    venv = next(i for i, ln in enumerate(lines) if re.match(r"python -m venv ", ln))
    activate = next(i for i, ln in enumerate(lines) if ln.startswith("source ") and "/bin/activate" in ln)
    main_job = lines.index(MAIN_JOB)
    assert venv < activate < main_job, "the main job must run inside the brand-new venv"
    assert lines[-1] == TEST_SUITE, "CI ends with the README's test command"


# ----------------------------------------------------------------------------- install blocks: shape
def test_install_blocks_have_the_right_shape():
    installs = [b for b in _blocks("bash") if _is_install(b)]
    assert len(installs) >= 3
    pins = dict(line.split("==") for line in (ROOT / "constraints-dev.txt").read_text().splitlines() if "==" in line and not line.startswith("#"))
    for block in installs:
        for line in block.strip().splitlines():
            command = line.split("#")[0].strip()
            words = shlex.split(command)
            assert words[:4] == ["python", "-m", "pip", "install"] or words[:2] == ["git", "clone"] or words[0] in ("cd",) or "&&" in words, line
            if "torch==" in command:
                assert f"torch=={pins['torch']}" in command, "the README's torch pin must match constraints-dev.txt"
                assert "--index-url https://download.pytorch.org/whl/cpu" in command
    assert "pip install monai-spacetx" not in README  # not published
    for extra in re.findall(r'"\.\[([\w,]+)\]"', README):
        for name in extra.split(","):
            assert re.search(rf"^{name} = \[", (ROOT / "pyproject.toml").read_text(), flags=re.M), name


def test_every_extra_is_in_the_readme_table():
    pyproject = (ROOT / "pyproject.toml").read_text()
    section = pyproject.split("[project.optional-dependencies]")[1].split("\n[")[0]
    for name in re.findall(r"^(\w+) = \[", section, flags=re.M):
        assert f"| `{name}` |" in README, name


# ----------------------------------------------------------------------------- python blocks: run
@pytest.mark.parametrize("where", list(PYTHON_BLOCKS))
def test_python_block_runs_as_a_script(where, tmp_path):
    block = PYTHON_BLOCKS[where]
    (tmp_path / "block.py").write_text(block)
    done = _run([sys.executable, "block.py"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    if "SaveImaged" in block and "CacheDataset" not in block:
        assert "(1, 33, 41, 25)" in done.stdout
        assert (tmp_path / "outputs" / "anatomical_seg.nii.gz").is_file()
    if "lazy=True" in block:  # the label map is still a uint8 label map after the fused resample
        assert "torch.uint8 [0, 1]" in done.stdout, done.stdout
        if "SpaceRandCropByPosNegLabeld" in block:  # the spleen pipeline: 4 samples, each back on the scan's grid
            assert "4 (1, 16, 16, 8) torch.uint8 [0, 1]" in done.stdout and "(1, 33, 41, 25)" in done.stdout, done.stdout
        elif "SpaceInvertd" in block:  # and comes back onto the scan's grid with 0 wrong voxels
            assert "(1, 33, 41, 25) 0" in done.stdout, done.stdout
        elif "SpaceApplyPendingd" in block:  # MONAI's RandAffined after ours, executed by the sink onto the working grid
            assert "(1, 48, 64, 40) torch.uint8 [0, 1]" in done.stdout, done.stdout
    if "argmax=True" in block:  # the K-class export: the native label map and the winning probability
        assert "(1, 120, 100, 80) torch.uint8 (1, 120, 100, 80)" in done.stdout, done.stdout
    if "CacheDataset" in block:
        assert done.stdout.count("predictions mapped back to {(1, 33, 41, 25)}") == 2, done.stdout


# ----------------------------------------------------------------------------- command-line blocks: run
def _cli_commands() -> list[str]:
    commands = []
    for block in _blocks("bash"):
        if not _is_install(block):
            commands += [ln.split("#")[0].strip() for ln in block.strip().splitlines() if ln.strip().startswith("monai-spacetx")]
    return commands


def _expected_output(command: str) -> list[str]:
    """Lines a README command must print, decided outside the package: the parser's documented options, the
    demo's exact round trip, the example scans' shapes and the voxels of a --roi box counted by hand."""
    argv = shlex.split(command)
    if argv[-1] == "--help":
        options = sorted({a for cmd in _cli_commands() for a in shlex.split(cmd)[2:] if a.startswith("--") and "check" in cmd})
        return ["usage: monai-spacetx"] + (options if "check" in argv else ["check", "demo"])
    if argv[1] == "demo":
        return ["round-trip error: 0 px"]
    lines = []
    if "anatomical.nii" in argv:  # nibabel's 33 x 41 x 25 scan of 2 mm voxels
        lines.append("shape (33, 41, 25), spacing [2.0, 2.0, 2.0] mm")
    if "example4d.nii.gz" in argv:  # nibabel's EPI series: 128 x 96 x 24 voxels per volume
        lines.append("shape (128, 96, 24)")
    if "--roi" in argv:
        box = [int(v) for v in argv[argv.index("--roi") + 1 : argv.index("--roi") + 7]]
        inside = int(np.prod([box[k + 3] - box[k] for k in range(3)]))
        lines.append(f"coverage  : {inside} of ")  # the working grid covers exactly the cropped box
        lines.append("wrong voxels inside grid   0")
    return lines


@pytest.mark.parametrize("command", _cli_commands())
def test_command_line_block_runs(command, tmp_path):
    done = _run(shlex.split(command), tmp_path)
    assert done.returncode == 0, done.stderr
    expected = _expected_output(command)
    assert expected and all(line in done.stdout for line in expected), [line for line in expected if line not in done.stdout]


def test_the_shown_output_is_real(tmp_path):
    """The ``text`` block that follows a ``check`` command is what that command prints (timings aside)."""
    pairs = re.findall(r"```bash\n(monai-spacetx check [^\n]*)\n```\s*```text\n(.*?)```", README, flags=re.S)
    assert pairs
    for command, shown in pairs:
        done = _run(shlex.split(command), tmp_path)
        assert done.returncode == 0, done.stderr

        def stable(text: str) -> list[str]:
            return [ln.rstrip() for ln in text.strip().splitlines() if not ln.strip().startswith("time (s)")]

        assert stable(done.stdout) == stable(shown)


# ----------------------------------------------------------------------------- the caches advice
def test_persistent_dataset_pitfalls_are_as_the_readme_says(tmp_path):
    """Default track_meta: plain tensors, no geometry to map back; MetaTensors cannot be read with weights_only=True."""
    import pickle

    import torch
    from monai.data import MetaTensor, PersistentDataset
    from monai.transforms import Compose, LoadImaged

    from monai_spacetx import SpaceCropd, SpaceInvertd
    from monai_spacetx.compare import example_scan
    from monai_spacetx.errors import MetadataError

    preprocess = Compose([LoadImaged(keys="image", ensure_channel_first=True, image_only=True),
                          SpaceCropd(keys="image", roi_start=(4, 4, 2), roi_end=(29, 37, 23))])
    files = [{"image": str(example_scan("anatomical.nii"))}]
    default = PersistentDataset(files, preprocess, cache_dir=tmp_path / "default")
    default[0]  # the first pass computes (and caches) the sample
    plain = default[0]  # later passes read the cache
    assert not isinstance(plain["image"], MetaTensor)
    plain["pred"] = plain["image"] > 0
    with pytest.raises(MetadataError):
        SpaceInvertd(keys="pred", orig_keys="image")(plain)
    persistent = PersistentDataset(files, preprocess, cache_dir=tmp_path / "meta", track_meta=True, weights_only=False)
    persistent[0]
    kept = persistent[0]
    assert isinstance(kept["image"], MetaTensor)
    (cached,) = (tmp_path / "meta").glob("*.pt")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(cached, weights_only=True)
    assert torch.load(cached, weights_only=False)["image"].shape == kept["image"].shape


def test_readme_links_resolve():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
    conventions = (ROOT / "docs" / "conventions.md").read_text()
    for anchor in re.findall(r"\]\(docs/conventions\.md#([^)]+)\)", README):
        headings = ["-".join(re.sub(r"[^\w\s-]", "", h).lower().split()) for h in re.findall(r"^#+ (.+)$", conventions, flags=re.M)]
        assert anchor in headings, anchor


# ----------------------------------------------------------------------------- README figures: produced by the named command
def _run_script(command: str, cwd: Path) -> str:
    """Run ``python benchmarks/x.py [args]`` as the README names it (script path made absolute, run in ``cwd``)."""
    words = shlex.split(command)
    assert words[0] == "python" and words[1].startswith("benchmarks/"), command
    done = _run([sys.executable, str(ROOT / words[1]), *words[2:]], cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _md_tables(text: str) -> list[list[list[str]]]:
    """Every markdown table in ``text``: rows of stripped cells, the header first, the |---| row dropped."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _readme_table_after(command: str) -> list[list[str]]:
    """The first table in docs/benchmarks.md after the paragraph that names ``command`` (in backticks)."""
    at = BENCHMARKS.index(f"`{command}`")
    return _md_tables(BENCHMARKS[at:])[0]


ACCURACY_COMMAND = "python benchmarks/bench_accuracy.py --quick"
ACCURACY_ROWS = {  # README row -> the row the command prints
    "Spacingd to a finer grid": "Spacingd finer",
    'Spacingd to a coarser grid (hard labels; ours `mode="label"`)': "Spacingd coarser (hard labels: nearest / label)",
    'Spacingd to a coarser grid (probabilities; ours `mode="linear"`)': "Spacingd coarser (probabilities: bilinear / linear)",
    "Resized to a larger grid": "Resized larger",
    "CropForegroundd + Resized": "CropForegroundd + Resized",
    "Zoomd ×1.7": "Zoomd x1.7",
    "Orientationd + Spacingd": "Orientationd + Spacingd",
}
ACCURACY_COLUMNS = {  # README column -> the column the command prints
    "MONAI `Invertd`, label forwarded by MONAI": "fwd label: MONAI Invertd",
    "MONAI `Invertd`, ideal prediction": "ideal pred: MONAI Invertd",
    "`SpaceInvertd`, ideal prediction": "ideal pred: SpaceInvertd",
    "our own transforms, forward + back": "ours fwd+back",
}


def test_accuracy_table_is_what_its_command_prints(tmp_path):
    printed = _md_tables(_run_script(ACCURACY_COMMAND, tmp_path))[0]
    header, rows = printed[0], {row[0]: dict(zip(printed[0], row)) for row in printed[1:]}
    shown = _readme_table_after(ACCURACY_COMMAND)
    assert shown[0][1:] == list(ACCURACY_COLUMNS), "a README column the test does not map to the command's output"
    assert [row[0] for row in shown[1:]] == list(ACCURACY_ROWS), "a README row the test does not map to the command's output"
    assert set(ACCURACY_COLUMNS.values()) <= set(header), header
    for row in shown[1:]:
        theirs = rows[ACCURACY_ROWS[row[0]]]
        for column, cell in zip(ACCURACY_COLUMNS, row[1:]):
            assert cell == theirs[ACCURACY_COLUMNS[column]], (row[0], column, cell, theirs[ACCURACY_COLUMNS[column]])
    # the prose under the table quotes the same run
    hard = rows[ACCURACY_ROWS['Spacingd to a coarser grid (hard labels; ours `mode="label"`)']]
    prob = rows[ACCURACY_ROWS['Spacingd to a coarser grid (probabilities; ours `mode="linear"`)']]

    def wrong(cell: str) -> str:
        return cell.split(" / ")[0]

    assert (f"({wrong(hard['ours fwd+back'])} against {wrong(hard['ideal pred: SpaceInvertd'])} wrong voxels; "
            f"{wrong(prob['ours fwd+back'])} against {wrong(prob['ideal pred: SpaceInvertd'])})") in " ".join(BENCHMARKS.split())
    assert f"for example {wrong(rows['Resized larger']['fwd label: MONAI Invertd'])} rather" in " ".join(BENCHMARKS.split())
    exact = "fwd label: MONAI nearest-exact + Invertd(nearest_interp=False)"
    for name in ("Resized larger", "CropForegroundd + Resized", "Zoomd x1.7"):  # "also come back with 0 wrong voxels"
        assert rows[name][exact] == "0 / 1.0000", (name, rows[name][exact])


DOWNSAMPLING_COMMAND = "python benchmarks/bench_downsampling.py"


def test_downsampling_table_is_what_its_command_prints(tmp_path):
    aliasing, thick = _md_tables(_run_script(DOWNSAMPLING_COMMAND, tmp_path))[:2]
    printed = [(row[1], None) for row in aliasing[1:]] + [(row[1], row[2]) for row in thick[1:]]
    shown = _readme_table_after(DOWNSAMPLING_COMMAND)[1:]
    assert len(shown) == len(printed) == 7
    for row, (error, overshoot) in zip(shown, printed):
        numbers = re.findall(r"\d+(?:\.\d+)?", row[2])
        assert numbers[0] == error, (row, error)
        if overshoot is not None:
            assert numbers[1] == overshoot, (row, overshoot)
    # and the sentences under the table
    plain, smoothed = float(printed[0][0]), float(printed[1][0])
    cubic, separate = printed[3], printed[5]
    prose = " ".join(BENCHMARKS.split())
    assert smoothed <= plain / 2 and "halves the error of a 4× shrink" in prose
    assert int(cubic[1]) >= 4 * int(separate[1]) and "overshoot across thick slices by 4×" in prose
    assert float(separate[0]) > float(cubic[0]) and "does not lower the RMS error" in prose


SEED_COMMAND = "python benchmarks/bench_seed.py"


def test_seed_table_is_what_its_command_prints(tmp_path):
    out = _run_script(SEED_COMMAND, tmp_path)
    all_lines = out.splitlines()
    dashes = next(i for i, line in enumerate(all_lines) if line.strip() and set(line.strip()) == {"-"})
    lines = all_lines[dashes + 1 :]
    printed = {}
    for line in lines:
        match = re.match(r"(.+?)\s+(\d+\.\d+)\s+(\d+)$", line.strip())
        if match:
            printed[match.group(1).replace(" ", "")] = (float(match.group(2)), int(match.group(3)))
    shown = _readme_table_after(SEED_COMMAND)[1:]
    assert len(shown) == len(printed) == 5, (shown, printed)
    for method, error, wrong in shown:
        key = method.replace("`", "").replace(" ", "")
        assert key in printed, (method, list(printed))
        decimals = len(error.split(".")[1])
        assert abs(float(error) - printed[key][0]) <= 0.5 * 10.0**-decimals + 1e-6, (method, error, printed[key])
        assert int(wrong) == printed[key][1], (method, wrong, printed[key])


def test_speed_tables_say_the_command_the_machine_and_the_date():
    speed = BENCHMARKS.split("\n## Speed")[1].split("\n## ")[0]
    assert re.search(r"All figures: CI's kind of machine \([^)]*Intel Xeon", speed), "the machine"
    tables = [m.start() for m in re.finditer(r"^\| .* \|\n\|---", speed, flags=re.M)]
    assert len(tables) >= 4
    previous = 0
    for start in tables:
        lead = speed[previous:start]
        assert re.search(r"`python benchmarks/bench_\w+\.py[^`]*`", lead), lead[-300:]
        assert re.search(r"measured 20\d\d-\d\d-\d\d", lead), lead[-300:]
        previous = speed.index("\n\n", start)
