"""Build hook (everything else is in pyproject.toml): a wheel carries the top-level ``sql/`` and
Dagster instance files inside ``flowsync_pipelines/``, where :mod:`flowsync_pipelines.packaged`
looks for them first. An editable install reads them from the checkout instead."""

from __future__ import annotations

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = runpy.run_path(str(ROOT / "flowsync_pipelines" / "packaged.py"))["SHIPPED"]


class BuildPyWithShipped(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "flowsync_pipelines"
        for name in SHIPPED:
            source = ROOT / name
            if source.is_dir():
                self.copy_tree(str(source), str(target / name))
            else:
                self.copy_file(str(source), str(target / name))


setup(cmdclass={"build_py": BuildPyWithShipped})
