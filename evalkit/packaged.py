"""The data evalkit ships beside its code: the built-in suites and the blessed baselines.

In the repository they are the top-level folders `suites/` and `baselines/` (the project
layout, where `evalkit baseline save` writes). A wheel carries copies of both as package
data, `evalkit/_packaged/suites/` and `evalkit/_packaged/baselines/` (setup.py's build
step), found here through importlib.resources. evalkit running from a checkout (an
editable install, or PYTHONPATH) uses the checkout's folders; an installed wheel uses its
packaged copies, which are read-only.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from evalkit.types import EvalkitError

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGED_DIR = "_packaged"  # inside the evalkit package of a wheel
SHIPPED = ("suites", "baselines")


def checkout_root() -> Path | None:
    """The repository evalkit runs from, or None for an installed wheel."""
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "evalkit" / "packaged.py").is_file():
        return REPO_ROOT
    return None


def builtin_dir(name: str) -> Path:
    """`suites` or `baselines`: the checkout's folder, else the wheel's packaged copy."""
    if name not in SHIPPED:
        raise ValueError(f"{name!r} is not shipped with evalkit (shipped: {', '.join(SHIPPED)})")
    root = checkout_root()
    if root is not None:
        return root / name
    packaged = resources.files("evalkit").joinpath(PACKAGED_DIR, name)
    if not isinstance(packaged, Path):  # e.g. a zip import: the files have no path to hand out
        raise EvalkitError(f"evalkit's packaged {name} are not on the file system ({packaged}); "
                           "install evalkit as a regular (unzipped) package")
    return packaged


def is_packaged(path: Path) -> bool:
    """Whether `path` lies in an installed wheel's read-only packaged data."""
    if checkout_root() is not None:
        return False
    packaged = resources.files("evalkit").joinpath(PACKAGED_DIR)
    return isinstance(packaged, Path) and Path(path).resolve().is_relative_to(packaged.resolve())
