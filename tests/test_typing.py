"""Static types: ``mypy --strict`` is clean on the package, and the public signatures say what they do.

One mypy run checks the package and two small client files: one whose types must come
out as stated (numpy in gives numpy out, a tensor gives a tensor; ``assert_type``), and
one whose every marked line must be refused (a wrong ``align``/``coords`` literal, a
tensor where a Space is wanted). The cache lives in the repository's ``.mypy_cache``, so
only the first run is slow.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

REPO = Path(__file__).resolve().parents[1]

#: What ``mypy --strict`` must find clean (the configuration is ``[tool.mypy]`` in pyproject.toml):
#: the whole package.
STRICT_CLEAN = ["monai_spacetx"]

TYPED_CLIENT = """
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from typing_extensions import assert_type

from monai_spacetx import Space, index_map, index_to_world, map_points, world_to_index
from monai_spacetx.geometry.points import FloatArray, apply_affine, snap

space = Space((4, 5), spacing=(0.5, 2.0))
other = space.zoom(2.0, align="centers")
assert_type(index_to_world(np.zeros((3, 2)), space), npt.NDArray[Any])
assert_type(index_to_world([[0.0, 1.0]], space), npt.NDArray[Any])
assert_type(index_to_world(torch.zeros(3, 2), space), torch.Tensor)
assert_type(world_to_index(np.zeros((3, 2), dtype=">f4"), space, np.float32), npt.NDArray[Any])
assert_type(world_to_index(torch.zeros(3, 2), space, torch.float32), torch.Tensor)
assert_type(map_points(torch.zeros(1, 3, 2), space, other), torch.Tensor)
assert_type(map_points((1.0, 2.0), space, other), npt.NDArray[Any])
assert_type(apply_affine(np.eye(3), torch.zeros(2)), torch.Tensor)
assert_type(space.index_to_world(torch.zeros(2)), torch.Tensor)
assert_type(space.world_to_index(np.zeros(2)), npt.NDArray[Any])
assert_type(index_map(space, other), FloatArray)
assert_type(snap([0.5, 1.0]), FloatArray)
assert_type(space.affine, FloatArray)
assert_type(space.to_monai_affine(), FloatArray)
assert_type(space.through_plane, tuple[float, float] | None)
assert_type(space.contains(np.zeros((2, 2)), coords="index"), npt.NDArray[np.bool_])
assert_type(Space.from_json(space.to_json()).crop((0, 0), (2, 2)).shape, tuple[int, ...])

from monai_spacetx import warp_image  # loaded lazily at run time, seen through TYPE_CHECKING imports

assert_type(warp_image(np.zeros((4, 5)), space, other), npt.NDArray[Any])
assert_type(warp_image(torch.zeros(1, 4, 5), space, other, "nearest"), torch.Tensor)
"""

MISTYPED_CLIENT = """
import numpy as np
import torch

from monai_spacetx import Space, map_points

space = Space((4, 5))
space.resize((8, 8), align="corners")  # refused: align is Literal["edges", "centers"]
space.contains(np.zeros((1, 2)), coords="voxel")  # refused: coords is Literal["world", "index"]
map_points(np.zeros((1, 2)), torch.zeros(3, 3), space)  # refused: source must be a Space
space.shape = (1, 1)  # refused: read-only property
"""


def _mypy(*paths: str) -> subprocess.CompletedProcess[str]:
    subset = [] if STRICT_CLEAN == ["monai_spacetx"] else ["--follow-imports=silent"]
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *subset, *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_package_is_mypy_strict_clean_and_public_types_are_precise(tmp_path):
    typed = tmp_path / "typed_client.py"
    mistyped = tmp_path / "mistyped_client.py"
    typed.write_text(TYPED_CLIENT)
    mistyped.write_text(MISTYPED_CLIENT)
    result = _mypy(*STRICT_CLEAN, str(typed), str(mistyped))
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert result.returncode in (0, 1), result.stderr  # 2 would be a crash or a bad configuration
    # by file name: mypy replays a cached module's errors with the path it had when first checked
    refused_here = re.compile(r"(?:^|/)mistyped_client\.py:(\d+): error:")
    outside = [line for line in errors if not refused_here.search(line)]
    assert not outside, "\n".join(outside)
    refused = {int(m.group(1)) for line in errors if (m := refused_here.search(line))}
    expected = {n for n, line in enumerate(MISTYPED_CLIENT.splitlines(), start=1) if "# refused" in line}
    assert refused == expected, "\n".join(errors)


def test_lazy_exports_are_visible_to_type_checkers():
    """Every name ``monai_spacetx.__getattr__`` loads lazily is imported under ``TYPE_CHECKING`` too."""
    import monai_spacetx

    tree = ast.parse((REPO / "monai_spacetx" / "__init__.py").read_text())
    guarded = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for statement in node.body
        if isinstance(statement, ast.ImportFrom)
        for alias in statement.names
    }
    assert guarded == set(monai_spacetx._TRANSFORMS) | {"warp_image"}
    for name in guarded:
        assert getattr(monai_spacetx, name) is not None and name in monai_spacetx.__all__
