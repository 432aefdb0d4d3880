"""The locks that installs come from pin every dependency pyproject.toml names, with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "deploy" / "requirements"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)")


def _pins(lock: Path) -> dict[str, list[Version]]:
    """Each pinned name with its versions (a name may be pinned twice, per Python version)."""
    pins: dict[str, list[Version]] = {}
    lines = lock.read_text().splitlines()
    for number, line in enumerate(lines):
        if match := PIN.match(line):
            assert lines[number + 1].strip().startswith("--hash=sha256:"), f"{lock.name}: {line} has no hash"
            pins.setdefault(canonicalize_name(match[1]), []).append(Version(match[2]))
    return pins


def _wanted(extra: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    for requirement in map(Requirement, project["optional-dependencies"][extra]):
        if canonicalize_name(requirement.name) == "vertelpaal":
            for inner in requirement.extras:
                wanted += _wanted(inner)
        else:
            wanted.append(requirement)
    return wanted


@pytest.mark.parametrize("extra", ["kiosk", "admin", "dev"])
def test_each_lock_pins_every_dependency_of_its_part(extra: str) -> None:
    pins = _pins(LOCKS / f"{extra}.lock")
    for name in ("pip", "setuptools"):  # the venv's installer and the project's build come from it too
        assert name in pins, f"{extra}.lock misses {name}"
    stale = [
        str(requirement)
        for requirement in _wanted(extra)
        if not any(
            requirement.specifier.contains(v) for v in pins.get(canonicalize_name(requirement.name), [])
        )
    ]
    assert stale == [], f"pyproject.toml changed: run `make lock` ({extra}.lock lacks {stale})"
