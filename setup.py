"""Build hook (everything else is in pyproject.toml): the repository's top-level `suites/`
and `baselines/` ship inside the wheel as package data, `evalkit/_packaged/suites/` and
`evalkit/_packaged/baselines/`, found at run time by evalkit.packaged. The folders stay
where the project layout puts them; a checkout (an editable install) reads them there."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("suites", "baselines")


def shipped_files(folder: str) -> list[Path]:
    """Every file of `folder`, without caches and hidden files (editor and lock files)."""
    return [
        p for p in sorted(Path(folder).rglob("*"))
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in p.parts)
    ]


class BuildWithShippedData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's own folders
        for folder in SHIPPED:
            for src in shipped_files(folder):
                target = Path(self.build_lib, "evalkit", "_packaged", src)
                self.mkpath(str(target.parent))
                self.copy_file(str(src), str(target))


setup(cmdclass={"build_py": BuildWithShippedData})
