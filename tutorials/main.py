"""The main job: the seed comparison (tutorial 01) and the 3-D inference round trip (tutorial 02).

Run from the repository root, no arguments needed::

    python tutorials/main.py            # tables on stdout, figures and NIfTI files in ./outputs/

``--out FOLDER`` writes elsewhere.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def load_tutorial(filename: str) -> ModuleType:
    """Import a tutorial script by file name (their names start with a digit)."""
    name = "tutorial_" + Path(filename).stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


JOBS = (
    ("01_seed_comparison.py", "seed comparison: 2-D crop -> resample -> analyse -> map back"),
    ("02_ct_inference_roundtrip.py", "3-D inference round trip on an oblique NIfTI scan"),
)


def main(out_dir: Path = Path("outputs"), small: bool = False) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"monai-spacetx main job: writing figures and files to {out_dir.resolve()}")
    t0 = time.perf_counter()
    results = {}
    for number, (filename, title) in enumerate(JOBS, start=1):
        print(f"\n=== [{number}/{len(JOBS)}] {title} ({time.perf_counter() - t0:.1f} s elapsed) ===", flush=True)
        results[filename] = load_tutorial(filename).main(out_dir, small=small)
    print(f"\n=== summary ({time.perf_counter() - t0:.1f} s) ===")
    for filename, result in results.items():
        print(f"\n{filename}")
        print(result["table"])
        if result.get("figure"):
            print(f"figure: {result['figure']}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default: ./outputs)")
    parser.add_argument("--small", action="store_true", help="the reduced-size run used by the tests")
    args = parser.parse_args()
    main(args.out, small=args.small)
