"""Check the built wheel and sdist: what a user installs is complete, and nothing else.

Usage: python .ci/check_dist.py DIST_DIR
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from pathlib import Path

root = Path(__file__).resolve().parent.parent
version = re.search(r'__version__ = "(.+)"', (root / "extruct_async/_version.py").read_text())
assert version is not None
dist = Path(sys.argv[1])
(wheel,) = dist.glob(f"extruct_async-{version[1]}-py3-none-any.whl")
(sdist,) = dist.glob(f"extruct_async-{version[1]}.tar.gz")

info = f"extruct_async-{version[1]}.dist-info"
with zipfile.ZipFile(wheel) as archive:
    names = archive.namelist()
    entry_points = archive.read(f"{info}/entry_points.txt").decode()
    metadata = archive.read(f"{info}/METADATA").decode()
required = [
    "extruct_async/__init__.py",
    "extruct_async/py.typed",
    "extruct_async/testing/openapi.json",
    "extruct_async/testing/pytest_plugin.py",
    "extruct_async/_cli/__init__.py",
    "extruct_async/_store/__init__.py",
    f"{info}/licenses/LICENSE",
    f"{info}/entry_points.txt",
]
missing = [name for name in required if name not in names]
stray = [n for n in names if n.startswith(("tests/", "benchmarks/", "docs/", "examples/"))
         or "__pycache__" in n or n.endswith(".pyc")]
problems = [f"missing from the wheel: {name}" for name in missing]
problems += [f"does not belong in the wheel: {name}" for name in stray]
if "extruct-async = extruct_async._cli:main" not in entry_points:
    problems.append("the extruct-async command is not declared")
if "extruct_async = extruct_async.testing.pytest_plugin" not in entry_points:
    problems.append("the pytest plugin is not declared")
for needed in ("License-Expression: MIT", "Requires-Python: >=3.10",
               "Classifier: Programming Language :: Python :: 3.13"):
    if needed not in metadata:
        problems.append(f"metadata lacks {needed!r}")

with tarfile.open(sdist) as archive:
    members = {Path(m).relative_to(f"extruct_async-{version[1]}").as_posix()
               for m in archive.getnames() if "/" in m}
for name in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml",
             "extruct_async/py.typed", "tests/conftest.py"):
    if name not in members:
        problems.append(f"missing from the sdist: {name}")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{wheel.name}: {len(names)} files; {sdist.name}: {len(members)} files; complete")
