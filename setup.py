"""Maps the top-level folders to their installed names under ``prism_secure``.

``packages.find`` cannot follow ``package-dir`` renames, so the package list is walked here from
the folders themselves; a new subpackage needs only its ``__init__.py``.
"""

from pathlib import Path

from setuptools import setup

ROOTS = {
    "prism_secure": "prism_secure",
    "prism_secure.protocols": "protocols",
    "prism_secure.audits": "audits",
    "prism_secure.cli": "cli",
}


def _packages() -> list[str]:
    names = []
    for name, folder in ROOTS.items():
        for init in sorted(Path(folder).rglob("__init__.py")):
            names.append(".".join((name, *init.parent.relative_to(folder).parts)))
    return names


setup(packages=_packages(), package_dir=ROOTS)
