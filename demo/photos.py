"""Real photos that ship inside installed packages, found without importing those packages.

`catsordogs` (MIT) ships a kitten (`test1.jpeg`) and a dog (`test2.jpeg`); scikit-image ships
`chelsea.png`, a cat. Importing `catsordogs` itself would pull tkinter and OpenCV, so only its
location is looked up.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: photo name -> (package, file inside the package, true label)
PHOTOS: dict[str, tuple[str, str, str]] = {
    "kitten": ("catsordogs", "test1.jpeg", "cat"),
    "dog": ("catsordogs", "test2.jpeg", "dog"),
    "chelsea": ("skimage", "data/chelsea.png", "cat"),
}


def package_dir(package: str) -> Path:
    """Folder of an installed package, without running its `__init__`."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {package!r} is not installed: run `make setup` (catsordogs goes in with --no-deps)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def photo_path(name: str) -> Path:
    """Path of one bundled photo by its name in PHOTOS."""
    package, relative, _ = PHOTOS[name]
    path = package_dir(package) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {package!r} package")
    return path


def photo_label(name: str) -> str:
    """The true label of a bundled photo."""
    return PHOTOS[name][2]
