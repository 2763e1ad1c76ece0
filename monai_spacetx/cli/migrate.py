"""``monai-spacetx migrate``: a MONAI bundle config's spatial transforms rewritten to ours, as a diff.

Reads a bundle config (JSON, or YAML with pyyaml), swaps every ``_target_`` that names a MONAI
transform with a Space counterpart (the one table: :mod:`monai_spacetx.transforms.names`) for
ours, keeping every argument, prints a unified diff and lists what still needs a decision:

- ``AsDiscreted(argmax=True)`` after ``Invertd``: ``SpaceInvertd(argmax=True)`` exports the
  channels in bounded memory, and then the ``AsDiscreted`` argmax must go (README, export);
- hard labels (an argmax before the map-back) go back with ``nearest``: exact only from a working
  grid at least as fine as the scan;
- in a lazy ``Compose``, a transform that needs the data (an intensity transform, a crop that reads
  a label, ...) after MONAI spatial steps still pending: MONAI's resampler would execute them, so
  ``SpaceApplyPendingd`` goes right before it (our engine executes them, one resample).

``--check SCAN`` runs the original and the migrated pre-/post-processing on a scan, with a
perfect model (the scan's label sampled at the working voxel centres), and prints the round-trip
wrong voxels of each, scored as ``monai-spacetx check`` scores them (:mod:`monai_spacetx.compare`).

The file is rewritten as text (comments and layout kept); the result is parsed again and must equal
the rewritten config, else the config is written out afresh (and the report says so).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import functools
import inspect
import json
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .text import CliError, Progress

NAME = "migrate"
HELP = "rewrite a MONAI bundle config to monai-spacetx's transforms: a diff, the decisions left, and a round-trip check"
DESCRIPTION = """\
Read a MONAI bundle config (JSON or YAML), rename every MONAI spatial transform that has a
monai-spacetx counterpart (Spacingd, Resized, Zoomd, SpatialCropd, CropForegroundd, Invertd, ...
in any form a bundle writes: 'Spacingd', 'monai.transforms.Spacingd', '$monai.transforms.Spacingd')
to ours, keeping every argument, and print a unified diff. Then list what needs a decision: an
AsDiscreted(argmax=True) that SpaceInvertd(argmax=True) could replace, hard labels mapped back from
a coarser grid, and in a lazy Compose the place for SpaceApplyPendingd before a transform that
reads data while MONAI spatial steps are pending.

-o OUT writes the migrated config (comments and layout kept). --check SCAN runs the original and
the migrated preprocessing, a perfect model and the postprocessing (SaveImaged left out) on your
scan and prints the wrong voxels of each round trip, as 'monai-spacetx check' counts them."""

EXAMPLES = (
    "configs/inference.json",
    "configs/inference.json -o configs/inference_spacetx.json",
    "configs/inference.yaml --check scan.nii.gz",
    "configs/inference.json --check scan.nii.gz --label seg.nii.gz --lazy",
)

#: The keys of a config node that are not constructor arguments (MONAI's ConfigComponent).
_SPECIAL_KEYS = frozenset({"_target_", "_disabled_", "_requires_", "_desc_", "_mode_"})

#: A ``_target_`` that is a name or a dotted path (optionally a ``$`` expression of one).
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\Z")

#: ``"_target_": "..."`` in JSON text; group 2 is the value as written (escapes included).
_JSON_TARGET = re.compile(r'("_target_"\s*:\s*)"((?:[^"\\]|\\.)*)"')

#: ``_target_: ...`` in YAML text (block or flow style, the key and value plain or quoted).
_YAML_TARGET = re.compile(r"""((?:^|(?<=[\s{,]))(["']?)_target_\2[ \t]*:[ \t]*)(["']?)([^\s"',}\]#]+)\3""", re.MULTILINE)


# ----------------------------------------------------------------------------- the command line
def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``migrate`` arguments to ``parser``."""
    parser.add_argument("config", type=Path, help="the bundle config: .json, or .yaml/.yml (needs pyyaml)")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT", help="write the migrated config here (may be CONFIG itself)")
    parser.add_argument(
        "--lazy", action="store_true",
        help="the preprocessing runs under Compose(lazy=True) (as with 'lazy: true' in the config): advise on pending steps, and --check runs it so",
    )
    check = parser.add_argument_group("round-trip check (optional)")
    check.add_argument("--check", type=Path, metavar="SCAN", help="run the original and the migrated pipelines on this scan and count the wrong voxels")
    check.add_argument("--example", metavar="NAME", help="--check on a scan shipped with nibabel: anatomical.nii (a 3-D MR)")
    check.add_argument("--label", type=Path, help="with --check: a label map on the scan's grid (default: scan > its mean)")
    check.add_argument("--threshold", type=float, metavar="T", help="with --check: the stand-in label is scan > T (default: the mean)")
    check.add_argument("--preprocessing", default="preprocessing", metavar="ID", help="with --check: the config id of the preprocessing (default: preprocessing)")
    check.add_argument("--postprocessing", default="postprocessing", metavar="ID", help="with --check: the config id of the postprocessing (default: postprocessing)")
    check.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    """Migrate, print the diff and the findings, write ``--output``, run ``--check``. Exit status 0, or 2 on bad input."""
    if args.check is not None and args.example is not None:
        raise CliError("give --check SCAN or --example NAME, not both")
    if args.example is not None:
        from ..compare import example_scan

        try:
            args.check = example_scan(args.example)
        except FileNotFoundError as err:
            raise CliError(f"--example: {err}") from None
    if args.check is None and (args.label is not None or args.threshold is not None):
        raise CliError("--label and --threshold apply to --check only")
    if args.label is not None and args.threshold is not None:
        raise CliError("give --label or --threshold, not both")
    if args.check is not None:
        from .inputs import check_path

        check_path("--check", args.check)
    result = migrate_file(args.config, lazy=args.lazy)
    shown_to = str(args.output) if args.output is not None else f"{args.config} (migrated)"
    diff = list(difflib.unified_diff(result.text.splitlines(keepends=True), result.migrated_text.splitlines(keepends=True),
                                     fromfile=str(args.config), tofile=shown_to))
    print(format_summary(result))
    if diff:
        print()
        sys.stdout.write("".join(line if line.endswith("\n") else line + "\n" for line in diff))
    if result.findings:
        print()
        print(format_findings(result.findings))
    if args.output is not None:
        write_atomically(args.output, result.migrated_text)
        print(f"\nwritten: {args.output}")
    if args.check is not None:
        from .inputs import LOAD_STEPS

        progress = Progress(0 if args.quiet else LOAD_STEPS + 5)  # loading, then 2 per config and the score
        try:
            report = check_roundtrip(result, args.check, label=args.label, threshold=args.threshold, lazy=args.lazy,
                                     pre_id=args.preprocessing, post_id=args.postprocessing, progress=progress,
                                     shown=None if args.example is None else f"{args.example} (an example scan shipped with nibabel)")
        except CliError:
            progress.abort()
            raise
        finally:
            progress.close()
        print()
        print(format_check(report))
    return 0


# ----------------------------------------------------------------------------- reading
def read_config(path: Path) -> tuple[str, str, dict[str, Any]]:
    """The text, the format (``"json"`` or ``"yaml"``) and the parsed content of a bundle config; one-line errors."""
    if path.is_dir():
        raise CliError(f"config {str(path)!r} is a folder; give the config file, e.g. {str(path / 'configs' / 'inference.json')!r}")
    if not path.is_file():
        raise CliError(f"config: no such file: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise CliError(f"config {str(path)!r}: expected a .json, .yaml or .yml bundle config, got {path.suffix or 'no extension'}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"config {str(path)!r}: not a text file (not UTF-8)") from None
    except OSError as err:
        raise CliError(f"config {str(path)!r}: cannot be read ({err.strerror or err})") from None
    fmt = "json" if suffix == ".json" else "yaml"
    content = parse_text(text, fmt, str(path))
    if not isinstance(content, dict):
        raise CliError(f"config {str(path)!r}: not a bundle config (the top level is a {type(content).__name__}, not a mapping of ids)")
    if not _target_nodes(content):
        raise CliError(f"config {str(path)!r}: not a bundle config (no '_target_' anywhere: nothing is instantiated)")
    return text, fmt, content


def parse_text(text: str, fmt: str, where: str) -> Any:
    """Parse JSON or YAML text as MONAI's ConfigParser does (``json.loads`` / ``yaml.safe_load``)."""
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise CliError(f"config {where!r}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    try:
        yaml = _yaml()
    except ImportError:
        raise CliError(f"config {where!r}: reading YAML needs pyyaml (python -m pip install pyyaml, or the package's 'tutorials' extra)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise CliError(f"config {where!r}: not valid YAML ({at}{problem})") from None


def _yaml() -> Any:
    """pyyaml (optional: the 'tutorials' extra), imported by name so that the type checker needs no stubs for it."""
    import importlib

    return importlib.import_module("yaml")


def _child(path: str, key: Any) -> str:
    return f"{path}#{key}" if path else str(key)


def _target_nodes(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every mapping with a ``_target_``, with its ConfigParser id, in the order the text writes them."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_":
                found.append((path, node))
            else:
                found += _target_nodes(value, _child(path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _target_nodes(value, _child(path, index))
    return found


def _shown(path: str) -> str:
    return path or "(top level)"


# ----------------------------------------------------------------------------- resolving a _target_
def resolve_target(text: str, where: str, search: tuple[Path, ...] = ()) -> Optional[Any]:
    """The class or function a ``_target_`` names, as MONAI's ConfigParser finds it.

    A plain name is looked up among MONAI's components (``Spacingd``, ``UNet``, ...), a dotted path
    is imported (``monai.transforms.Spacingd``, ``monai_spacetx.SpaceCropd``, a bundle's
    ``scripts.x.Y`` with ``search`` on the import path), and ``$`` before either is the same
    expression. Returns ``None`` for a reference (``@id``) or a larger expression, which the
    migration leaves as it is; raises :class:`CliError` when a name resolves to nothing.
    """
    import importlib
    import pydoc

    raw = text[1:] if text.startswith("$") else text
    if text.startswith(("@", "%")) or not _DOTTED.match(raw):
        return None
    if "." not in raw:
        module = _locator().get_component_module_name(raw)
        if isinstance(module, list):
            module = module[0]
        if module is not None:
            return getattr(importlib.import_module(module), raw)
    else:
        added = [str(p) for p in search if str(p) not in sys.path]
        sys.path[:0] = added
        try:
            found = pydoc.locate(raw)
        except pydoc.ErrorDuringImport as err:
            raise CliError(f"_target_ {text!r} at {_shown(where)}: importing it failed ({type(err.exc).__name__}: {err.value})") from None
        finally:
            for entry in added:
                sys.path.remove(entry)
        if found is not None:
            return found
    hint = "" if "." in raw else " (a bundle's own code needs its dotted path, e.g. scripts.module.Name)"
    raise CliError(f"_target_ {text!r} at {_shown(where)} cannot be resolved: not a MONAI component nor an importable dotted path{hint}")


@functools.lru_cache(maxsize=1)
def _locator() -> Any:
    """MONAI's ConfigParser lookup of component names (built once: it scans every loaded MONAI module)."""
    from monai.bundle.config_item import ComponentLocator

    return ComponentLocator()


def _accepted(cls: type) -> Optional[set[str]]:
    """The keyword arguments ``cls`` accepts, or ``None`` when it takes any (``**kwargs``)."""
    parameters = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


# ----------------------------------------------------------------------------- the migration
@dataclass(frozen=True)
class Finding:
    """Something the migration cannot decide for you: ``kind`` is ``"decision"``, ``"error"`` or ``"note"``."""

    kind: str
    where: str
    message: str


@dataclass
class Migration:
    """A config and its migration: texts, parsed contents, what was renamed and what needs a decision."""

    path: Path
    fmt: str
    text: str
    migrated_text: str
    original: dict[str, Any]
    migrated: dict[str, Any]
    renamed: list[tuple[str, str, str]] = field(default_factory=list)  # (id, MONAI target, ours)
    classes: dict[str, Any] = field(default_factory=dict)  # id -> resolved class, after the migration
    findings: list[Finding] = field(default_factory=list)
    rewritten_afresh: bool = False


def migrate_file(path: Path, lazy: bool = False) -> Migration:
    """Read ``path`` and migrate it (see :func:`migrate_text`)."""
    text, fmt, content = read_config(path)
    return migrate_text(text, fmt, content, path, lazy=lazy)


def migrate_text(text: str, fmt: str, content: dict[str, Any], path: Path, lazy: bool = False) -> Migration:
    """Rename every MONAI transform with a counterpart; find what needs a decision.

    ``lazy``: analyse the pipelines as if they ran under ``Compose(lazy=True)``.
    """
    import monai.transforms

    from ..transforms.names import counterparts

    table = counterparts()
    theirs = {getattr(monai.transforms, name): target for name, target in table.items()}
    search = (path.resolve().parent, path.resolve().parent.parent)  # a bundle's configs/ and its root (scripts/)
    migrated = copy.deepcopy(content)
    result = Migration(path=path, fmt=fmt, text=text, migrated_text=text, original=content, migrated=migrated)
    for (where, node), (_, new_node) in zip(_target_nodes(content), _target_nodes(migrated)):
        target = node["_target_"]
        if not isinstance(target, str):
            raise CliError(f"_target_ at {_shown(where)} must be a string, got {target!r}")
        found = resolve_target(target, where, search)
        if found is None:
            result.findings.append(Finding("note", where, f"_target_ {target!r} is a reference or an expression: left as it is"))
            continue
        ours_target = theirs.get(found) if isinstance(found, type) else None
        if ours_target is None:
            result.classes[where] = found
            continue
        ours = resolve_target(ours_target, where)
        assert isinstance(ours, type)
        accepted = _accepted(ours)
        extra = sorted(str(k) for k in node if k not in _SPECIAL_KEYS and accepted is not None and k not in accepted)
        if extra:
            result.classes[where] = found
            result.findings.append(Finding("error", where, f"{target} not migrated: {ours.__name__} takes no argument "
                                                          f"{', '.join(map(repr, extra))}; decide how to express it, then rename by hand"))
            continue
        new_node["_target_"] = ours_target
        result.classes[where] = ours
        result.renamed.append((where, target, ours_target))
    result.migrated_text, result.rewritten_afresh = _rewrite(text, fmt, content, migrated, str(path))
    if result.rewritten_afresh:
        result.findings.append(Finding("note", "", "the targets could not be rewritten in place in the text: the migrated "
                                                   "config is written out afresh (comments and layout are not kept)"))
    result.findings += find_decisions(result, lazy=lazy)
    return result


def _rewrite(text: str, fmt: str, content: dict[str, Any], migrated: dict[str, Any], where: str) -> tuple[str, bool]:
    """The text with the renamed targets replaced in place (``False``), else written afresh (``True``)."""
    old_nodes, new_nodes = _target_nodes(content), _target_nodes(migrated)
    pattern, group = (_JSON_TARGET, 2) if fmt == "json" else (_YAML_TARGET, 4)
    matches = list(pattern.finditer(text))
    if len(matches) == len(old_nodes):
        pieces, last, same = [], 0, True
        for match, (_, old), (_, new) in zip(matches, old_nodes, new_nodes):
            written = json.loads(f'"{match.group(group)}"') if fmt == "json" else match.group(group)
            if written != old["_target_"]:
                same = False
                break
            if new["_target_"] != old["_target_"]:
                pieces += [text[last:match.start(group)], new["_target_"]]
                last = match.end(group)
        if same:
            rewritten = "".join(pieces) + text[last:]
            if parse_text(rewritten, fmt, where) == migrated:
                return rewritten, False
    if fmt == "json":
        return json.dumps(migrated, indent=4) + "\n", True
    yaml = _yaml()
    return str(yaml.safe_dump(migrated, sort_keys=False, default_flow_style=False, allow_unicode=True)), True


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder (a crash leaves the old file or the new one)."""
    folder = path.absolute().parent
    if not folder.is_dir():
        raise CliError(f"--output: cannot write {str(path)!r}: the folder {str(folder)!r} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise CliError(f"--output: cannot write {str(path)!r} ({err.strerror or err})") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise CliError(f"--output: cannot write {str(path)!r} ({err.strerror or err})") from None


# ----------------------------------------------------------------------------- what needs a decision
def _truthy(value: Any) -> Optional[bool]:
    """A config value read as a bool: ``True``/``"$True"`` -> True, ``False``/``"$False"``/absent -> False, else ``None`` (unknown)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.strip() in ("$True", "$true"):
        return True
    if isinstance(value, str) and value.strip() in ("$False", "$false"):
        return False
    return None


def _keys(node: dict[str, Any]) -> Optional[set[str]]:
    """A node's ``keys`` as written (``None``: not literal, e.g. an expression)."""
    keys = node.get("keys")
    if isinstance(keys, str):
        return {keys}
    if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
        return set(keys)
    return None


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ka, kb = _keys(a), _keys(b)
    return ka is None or kb is None or bool(ka & kb)


def _entries(config: dict[str, Any], compose_id: str, items: list[Any]) -> list[tuple[str, Optional[dict[str, Any]]]]:
    """A Compose's transforms as ``(id, node)``; an ``@id`` entry is looked up (``None`` if it is no mapping)."""
    out: list[tuple[str, Optional[dict[str, Any]]]] = []
    for index, item in enumerate(items):
        where = _child(compose_id, f"transforms#{index}")
        if isinstance(item, str) and item.startswith("@"):
            node: Any = config
            for part in item[1:].split("#"):
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    node = None
                    break
            out.append((item[1:], node if isinstance(node, dict) else None))
        else:
            out.append((where, item if isinstance(item, dict) else None))
    return out


def find_decisions(result: Migration, lazy: bool = False) -> list[Finding]:
    """The findings on the migrated config: the argmax export, hard labels back, and lazy chains' pending steps."""
    from monai.transforms import AsDiscreted, Compose

    from ..transforms import SpaceInvertd

    findings: list[Finding] = []
    for where, node in _target_nodes(result.migrated):
        cls = result.classes.get(where)
        if isinstance(cls, type) and cls.__name__ == "AffineBoxToWorldCoordinated" and cls.__module__.startswith("monai.apps.detection"):
            lps = " (ours writes RAS, like the affine: flip the boxes at the edge for LPS annotations)" if _truthy(node.get("affine_lps_to_ras")) else ""
            findings.append(Finding("decision", where, "AffineBoxToWorldCoordinated puts the world boxes half a working voxel off the region; "
                                                       "SpaceInvertd with box_keys and box_coords: world writes the region itself (a different "
                                                       f"transform with its own arguments: docs/boxes.md){lps}"))
    for compose_id, node in _target_nodes(result.migrated):
        cls = result.classes.get(compose_id)
        items = node.get("transforms")
        if not (isinstance(cls, type) and issubclass(cls, Compose) and isinstance(items, list)):
            continue
        entries = [(where, entry, result.classes.get(where)) for where, entry in _entries(result.migrated, compose_id, items)]
        for i, (where, entry, kind) in enumerate(entries):
            if entry is None or kind is not SpaceInvertd:
                continue
            exports = _truthy(entry.get("argmax"))
            for other_id, other, other_kind in entries[i + 1:]:
                if other is None or other_kind is not AsDiscreted or not _truthy(other.get("argmax")) or not _overlap(entry, other):
                    continue
                if exports:
                    findings.append(Finding("error", other_id, f"AsDiscreted(argmax=True) after SpaceInvertd(argmax=True) at {where}: the export "
                                                               "already is the argmax (one channel), a second argmax makes every voxel class 0; "
                                                               "remove 'argmax: true' from this AsDiscreted"))
                else:
                    rest = sorted(k for k in other if k not in _SPECIAL_KEYS | {"keys", "argmax"})
                    keep = f" (keep its other arguments: {', '.join(rest)})" if rest else " (or the whole entry)"
                    findings.append(Finding("decision", other_id,
                                            f"AsDiscreted(argmax=True) after SpaceInvertd at {where}: set 'argmax: true' on SpaceInvertd to "
                                            "export the channels straight to the label map in bounded memory (README, export), and then "
                                            f"remove 'argmax: true' here{keep}; as it is, every channel is mapped back, then argmaxed"))
            for other_id, other, other_kind in entries[:i]:
                if other is None or other_kind is not AsDiscreted or not _truthy(other.get("argmax")) or not _overlap(entry, other):
                    continue
                mode = entry.get("mode")
                if mode is None:
                    nearest = _truthy(entry.get("nearest_interp", True))
                    mode = "nearest" if nearest else ("linear" if nearest is False else None)
                if mode in ("nearest", "nearest-exact"):
                    advice = ("exact when the working grid is at least as fine as the scan along every axis; from a coarser grid set "
                              "'mode: label' (fewer wrong voxels), or export probabilities: drop that argmax and set 'argmax: true' here")
                elif mode == "label":
                    continue
                else:
                    advice = (f"mode {mode!r} interpolates the label values themselves (a voxel between classes 0 and 2 becomes 1); "
                              "set 'mode: nearest' (exact from a grid at least as fine as the scan) or 'mode: label', or drop that "
                              "argmax and set 'argmax: true' here to export probabilities")
                findings.append(Finding("decision", where, f"SpaceInvertd maps hard labels back (AsDiscreted(argmax=True) at {other_id} "
                                                           f"comes first): {advice}"))
        findings += _pending_advice(node, compose_id, entries, lazy)
    return findings


def _pending_advice(node: dict[str, Any], compose_id: str, entries: list[tuple[str, Optional[dict[str, Any]], Any]], lazy: bool) -> list[Finding]:
    """In a lazy Compose: where MONAI's resampler would execute pending MONAI spatial steps, advise ``SpaceApplyPendingd``."""
    from monai.transforms import LazyTransform
    from monai.transforms.traits import LazyTrait

    written = node.get("lazy", False)
    compose_lazy: Optional[bool] = True if lazy else (None if written is None else _truthy(written))
    if compose_lazy is None and written is not None:
        return [Finding("note", compose_id, f"lazy is {written!r}, not known before the config runs: its pending steps are not analysed "
                                            "(run migrate with --lazy if this Compose runs lazily)")]
    if compose_lazy is False:
        return []
    base = LazyTransform.requires_current_data
    pending: list[tuple[str, dict[str, Any], str]] = []
    findings: list[Finding] = []

    def advise(before: str, what: str) -> None:
        keys: list[Any] = []
        for _, entry, _ in pending:
            value = entry.get("keys")
            for key in value if isinstance(value, list) else [value]:
                if key not in keys:
                    keys.append(key)
        snippet = json.dumps({"_target_": "monai_spacetx.SpaceApplyPendingd", "keys": keys[0] if len(keys) == 1 else keys})
        names = ", ".join(f"{name} ({where})" for where, _, name in pending)
        findings.append(Finding("decision", before, f"{what} while MONAI spatial steps are pending ({names}): MONAI's resampler would "
                                                    f"execute them (one mode for every key, MONAI #6850); insert {snippet} {'before it' if before != compose_id else 'as the last transform'}, "
                                                    "so that our engine executes them in one resample"))
        pending.clear()

    for where, entry, kind in entries:
        if entry is None or not isinstance(kind, type):
            if pending:
                advise(where, "an entry whose class is not known runs")
            continue
        runs_lazily = compose_lazy if compose_lazy is not None else bool(_truthy(entry.get("lazy", False)))
        ours = kind.__module__.startswith("monai_spacetx")
        if issubclass(kind, LazyTrait) and runs_lazily and (ours or getattr(kind, "requires_current_data", base) is base):
            if ours:
                pending.clear()  # ours executes what is pending with our engine
            else:
                pending.append((where, entry, kind.__name__))
        elif pending:
            reads = "reads the data" if issubclass(kind, LazyTrait) and runs_lazily else "does not run lazily"
            advise(where, f"{kind.__name__} {reads}")
    if pending:
        advise(compose_id, "the Compose ends")
    return findings


# ----------------------------------------------------------------------------- reports
def format_summary(result: Migration) -> str:
    """One line per renamed transform (or that nothing was renamed)."""
    if not result.renamed:
        return f"{result.path}: no MONAI transform with a monai-spacetx counterpart: nothing to rename"
    lines = [f"{result.path}: {len(result.renamed)} transform{'s' if len(result.renamed) != 1 else ''} renamed, every argument kept"]
    lines += [f"  {_shown(where)}: {old} -> {new}" for where, old, new in result.renamed]
    return "\n".join(lines)


def format_findings(findings: list[Finding]) -> str:
    """The findings, errors first, each with the config id it is about."""
    order = {"error": 0, "decision": 1, "note": 2}
    title = {"error": "fix", "decision": "decide", "note": "note"}
    lines = ["needs your attention:"]
    for finding in sorted(findings, key=lambda f: order[f.kind]):
        lines.append(f"  [{title[finding.kind]}] {_shown(finding.where)}: {finding.message}" if finding.where else f"  [{title[finding.kind]}] {finding.message}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- --check
@dataclass
class CheckResult:
    """One pipeline's round trip on the scan (``score`` is ``None`` when it did not come back on the scan's grid)."""

    name: str
    working_shape: tuple[int, ...]
    native_shape: tuple[int, ...]
    score: Any
    seconds: float
    note: str = ""


@dataclass
class CheckReport:
    """What ``--check`` measured: the scan, the stand-in label, and the original's and the migrated result."""

    scan: str
    label_source: str
    native_shape: tuple[int, ...]
    channels: int
    results: list[CheckResult] = field(default_factory=list)


def _parse(config: dict[str, Any], which: str) -> Any:
    """A ConfigParser of ``config`` with its ``imports`` evaluated (pre- and postprocessing must come from one parser:
    MONAI's ``Invertd`` checks that the transforms it inverts are the instances that ran)."""
    from monai.bundle import ConfigParser

    parser = ConfigParser(copy.deepcopy(config))
    try:
        if "imports" in parser:
            parser.get_parsed_content("imports")
    except Exception as err:
        raise CliError(f"--check: the {which} config's 'imports' fail ({_first_line(err)})") from None
    return parser


def _instantiate(parser: Any, ident: str, option: str, which: str) -> Any:
    if ident not in parser:
        raise CliError(f"--check: the {which} config has no '{ident}' (name its id with {option} ID)")
    try:
        return parser.get_parsed_content(ident)
    except Exception as err:
        raise CliError(f"--check: the {which} config's '{ident}' cannot be instantiated ({_first_line(err)})") from None


def _first_line(err: BaseException) -> str:
    """The innermost cause of ``err`` in one line, with the transform MONAI names when it wraps it ("applying transform")."""
    where = ""
    while err.__cause__ is not None:
        found = re.search(r"applying transform <([\w.]+) object", str(err))
        where = found.group(1).rpartition(".")[2] if found else where
        err = err.__cause__
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = f"{type(err).__name__}: {lines[0][:240]}" if lines else type(err).__name__
    return f"{where}: {text}" if where else text


def _steps(transform: Any) -> list[Any]:
    from monai.transforms import Compose

    return list(transform.transforms) if isinstance(transform, Compose) else [transform]


def _channels(parser: Any, label: np.ndarray) -> int:
    """The prediction's channels: the network's ``out_channels`` when the config says, else one per label value."""
    try:
        value = int(parser.get_parsed_content("network_def#out_channels"))
    except Exception:  # no network_def, or not an int: one channel per class of the stand-in label
        value = 0
    return value if value >= 1 else max(2, int(label.max()) + 1)


def _run_one(name: str, config: dict[str, Any], data: dict[str, Any], scan: Path, lazy: bool, pre_id: str, post_id: str,
             progress: Callable[[str], None]) -> CheckResult:
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Compose, Invertd, LoadImage, LoadImaged, SaveImage, SaveImaged

    from ..compare import score_labels, to_numpy, working_grid_mask
    from ..engine import warp_image
    from ..geometry.space import Space
    from ..transforms import SpaceInvertd

    parser = _parse(config, name)
    pre = _instantiate(parser, pre_id, "--preprocessing", name)
    post = _instantiate(parser, post_id, "--postprocessing", name)
    inverts = [t for t in _steps(post) if isinstance(t, (Invertd, SpaceInvertd))]
    if not inverts:
        raise CliError(f"--check: the {name} '{post_id}' has no Invertd or SpaceInvertd: nothing maps the prediction back")
    pred_key, image_key = inverts[0].keys[0], inverts[0].orig_keys[0]
    steps = _steps(pre)
    loads = any(isinstance(t, (LoadImaged, LoadImage)) for t in steps)
    native_image, label = data["image"], to_numpy(data["label"])[0]
    native = Space.from_metatensor(native_image)
    channels = _channels(parser, label)
    progress(f"{name}: preprocessing")
    started = time.perf_counter()
    try:
        runner = Compose(steps, lazy=True) if lazy or not isinstance(pre, Compose) else pre
        out = runner({image_key: str(scan) if loads else copy.deepcopy(native_image)})
    except Exception as err:
        raise CliError(f"--check: the {name} preprocessing failed on {str(scan)!r} ({_first_line(err)})") from None
    working = Space.from_metatensor(out[image_key])
    ideal = to_numpy(warp_image(torch.from_numpy(label[None].astype(np.float32)), native, working, mode="nearest"))[0]
    if channels == 1:
        prediction = torch.from_numpy(ideal[None].astype(np.float32))
    else:
        prediction = torch.from_numpy(np.stack([ideal == k for k in range(channels)]).astype(np.float32))
    out[pred_key] = MetaTensor(prediction)  # a model's output: a fresh tensor on the working grid
    progress(f"{name}: postprocessing (SaveImaged left out)")
    kept = [t for t in _steps(post) if not isinstance(t, (SaveImaged, SaveImage))]
    try:
        back = Compose(kept)(out)[pred_key]
    except Exception as err:
        raise CliError(f"--check: the {name} postprocessing failed ({_first_line(err)})") from None
    seconds = time.perf_counter() - started
    values = to_numpy(back).astype(np.float64)
    mapped = np.argmax(values, axis=0) if values.shape[0] > 1 else np.rint(values[0])
    result = CheckResult(name=name, working_shape=tuple(working.shape), native_shape=tuple(mapped.shape), score=None, seconds=seconds)
    if values.shape[0] > 1:
        result.note = f"the postprocessing returned {values.shape[0]} channels: scored their argmax"
    if mapped.shape != label.shape:
        result.note = f"mapped back to shape {mapped.shape}, not the scan's {label.shape}"
        return result
    result.score = score_labels(mapped, label, working_grid_mask(native, working))
    return result


def check_roundtrip(result: Migration, scan: Path, *, label: Optional[Path], threshold: Optional[float], lazy: bool,
                    pre_id: str = "preprocessing", post_id: str = "postprocessing",
                    progress: Callable[[str], None] = lambda step: None, shown: Optional[str] = None) -> CheckReport:
    """Run the original and the migrated pipelines on ``scan`` with a perfect model and score each round trip.

    The perfect model's output is the scan's label (``label``, or ``scan > threshold``, default the
    mean: :func:`~monai_spacetx.cli.inputs.load_case`) sampled at the working grid's voxel centres,
    one-hot over the network's ``out_channels`` (a single 0/1 channel when it has one). The
    postprocessing runs without ``SaveImaged``; its output is scored against the label as
    ``monai-spacetx check`` scores it: wrong voxels inside and outside the working grid, Dice.
    ``shown`` names the scan in the report (default: its path).
    """
    import logging

    from .inputs import load_case

    data, label_source, note = load_case(scan, label, threshold, None, progress=progress)  # LOAD_STEPS steps
    report = CheckReport(scan=(shown or str(scan)) + (f" ({note})" if note else ""), label_source=label_source,
                         native_shape=tuple(int(n) for n in data["image"].shape[1:]), channels=0)
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, config in (("original", result.original), ("migrated", result.migrated)):
                report.results.append(_run_one(name, config, data, scan, lazy, pre_id, post_id, progress))
    finally:
        logging.disable(previous)
    progress("scored")
    return report


def format_check(report: CheckReport) -> str:
    """The side-by-side table of ``--check``, with the rows ``monai-spacetx check`` prints."""
    lines = [
        "migrate --check: the original and the migrated config on one scan, a perfect model in between",
        f"  scan      : {report.scan}, shape {report.native_shape}",
        f"  label     : {report.label_source}",
        "  prediction: the label sampled at the working grid's voxel centres (one-hot), then the config's postprocessing",
        "",
    ]
    rows: list[tuple[str, ...]] = [("", *[r.name for r in report.results])]

    def row(title: str, cell: Callable[[CheckResult], str]) -> None:
        rows.append((title, *[cell(r) for r in report.results]))

    row("working shape", lambda r: str(r.working_shape))
    row("mapped-back shape", lambda r: str(r.native_shape))
    row("wrong voxels inside grid", lambda r: "n/a" if r.score is None else str(r.score.wrong_inside))
    row("Dice inside grid", lambda r: "n/a" if r.score is None else f"{r.score.dice_inside:.4f}")
    row("wrong voxels outside grid", lambda r: "n/a" if r.score is None else str(r.score.wrong_outside))
    row("time (s)", lambda r: f"{r.seconds:.2f}")
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(len(rows[0]))]
    lines += ["  " + "".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines += [f"  note: {r.name}: {r.note}" for r in report.results if r.note]
    lines += [
        "  (wrong voxel: a native voxel whose label differs from the original after the round trip;",
        "   outside the working grid no model can predict anything, so those are counted apart)",
    ]
    return "\n".join(lines)
