"""Repository-level checks: README's two commands, .ci/run, the command line demo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAIN_JOB = 'python -m pip install -c constraints-dev.txt -e ".[tutorials]" && python tutorials/main.py'
TEST_SUITE = 'python -m pip install -c constraints-dev.txt -e ".[test,tutorials,bench]" && python -m pytest -q'


def _ci_commands() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip().startswith("python ")]


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    commands = _ci_commands()
    assert commands, ".ci/run runs no python command"
    for command in commands:
        assert command in readme, f".ci/run command not found verbatim in README.md: {command}"
    assert TEST_SUITE in commands


def test_ci_fails_when_tests_fail():
    text = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in text or "set -e" in text


def test_readme_has_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert MAIN_JOB in readme
    assert TEST_SUITE in readme
    fenced = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    assert any(block.strip() == MAIN_JOB for block in fenced)
    assert any(block.strip() == TEST_SUITE for block in fenced)


def test_readme_python_example_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_main_demo(capsys):
    from monai_spacetx.__main__ import main

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "crop [10:25, 10:25]" in out and "32x32" in out
    assert "working index [15.5, 15.5]" in out
    assert "native index [17.0, 17.0]" in out
    assert "round-trip error: 0 px" in out


def test_main_requires_a_command(capsys):
    from monai_spacetx.__main__ import main

    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["no-such-command"])
    assert "invalid choice" in capsys.readouterr().err
