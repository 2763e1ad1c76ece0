"""Sphinx configuration of the monai-spacetx documentation (``python -m sphinx -W -b html docs <out>``).

The user guide is the Markdown pages in this folder (read by myst-parser); the API reference is
generated from the package's docstrings (autodoc, Google-style sections through napoleon) and the
command line from its argparse parser (sphinx-argparse). Nothing here needs a network.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sphinx.util import logging

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's package, also without `pip install -e .`

import monai_spacetx  # noqa: E402

logger = logging.getLogger(__name__)

project = "monai-spacetx"
author = "monai-spacetx contributors"
copyright = "monai-spacetx contributors, Apache-2.0"
release = monai_spacetx.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinxarg.ext",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "figures/*.py", "Thumbs.db", ".DS_Store"]

# Markdown: `[text](page.md#a-heading)` links resolve to the heading's slug, as on GitHub.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence", "dollarmath"]

# API reference: the package's own docstrings only (the MONAI base classes' are MONAI's to document).
autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True}
autodoc_inherit_docstrings = False
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "alabaster"
html_title = f"monai-spacetx {release}"
html_static_path: list[str] = []
html_theme_options = {"description": "Plan on a Space, resample once, map back exactly", "fixed_sidebar": True}


# ----------------------------------------------------------------------------- the transforms page
# docs/api/transforms.rst holds the line ``.. spacetx-transforms::``; it is replaced, when the page
# is read, by one section per name in ``monai_spacetx._TRANSFORMS`` (dictionary transforms, then
# array transforms, then the helpers), so a transform added to the package appears without an edit.
TRANSFORMS_MARKER = ".. spacetx-transforms::"


def _transforms_rst() -> str:
    from monai.transforms import MapTransform

    names = list(monai_spacetx._TRANSFORMS)
    objects = {name: getattr(monai_spacetx, name) for name in names}
    dictionary = [n for n in names if isinstance(objects[n], type) and issubclass(objects[n], MapTransform)]
    array = [n for n in names if isinstance(objects[n], type) and n not in dictionary]
    helpers = [n for n in names if n not in dictionary and n not in array]
    lines = [".. autosummary::", "   :nosignatures:", ""] + [f"   {n}" for n in dictionary + array + helpers] + [""]
    for title, group in (("Dictionary transforms", dictionary), ("Array transforms", array)):
        lines += [title, "-" * len(title), ""]
        for name in group:
            lines += [name, "~" * len(name), f".. autoclass:: {name}", ""]
    lines += ["Metadata helpers", "----------------", ""]
    for name in helpers:
        lines += [f".. autofunction:: {name}", ""]
    return "\n".join(lines)


def _expand_transforms(app: Any, docname: str, source: list[str]) -> None:
    if docname == "api/transforms" and TRANSFORMS_MARKER in source[0]:
        source[0] = source[0].replace(TRANSFORMS_MARKER, _transforms_rst())


def _check_every_public_name(app: Any, env: Any) -> None:
    """A warning (an error under ``-W``) for each name in ``monai_spacetx.__all__`` or
    ``monai_spacetx.transforms.__all__`` that no API page documents."""
    import monai_spacetx.transforms

    documented = {full.rsplit(".", 1)[-1] for full in env.get_domain("py").objects if full.startswith("monai_spacetx")}
    public = set(monai_spacetx.__all__) | set(monai_spacetx.transforms.__all__)
    for name in sorted(public - documented):
        logger.warning(f"monai_spacetx public name {name!r} is in no API page (docs/api/)", type="spacetx", subtype="api")


def _class_signature(app: Any, what: str, name: str, obj: Any, options: Any, signature: Any, return_annotation: Any) -> Any:
    """Our classes' signatures from their ``__init__``: autodoc would show MONAI's ``__new__(*args, **kwargs)``."""
    if what == "class" and name.startswith("monai_spacetx") and "__init__" in vars(obj):
        import inspect

        from sphinx.ext.autodoc.preserve_defaults import update_defvalue
        from sphinx.util.inspect import stringify_signature

        update_defvalue(app, obj.__init__, False)  # defaults as written in the source (autodoc_preserve_defaults)
        sig = inspect.signature(obj.__init__)
        sig = sig.replace(parameters=list(sig.parameters.values())[1:])  # without self
        return stringify_signature(sig, show_return_annotation=False), None
    return None


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-signature", _class_signature)
    app.connect("source-read", _expand_transforms)
    app.connect("env-updated", _check_every_public_name)
    return {"parallel_read_safe": True}
