"""The lock files agree with pyproject.toml, and this environment was installed from them.

Installs that cannot drift (issue 14): make installs every package at the version and hash
of a lock (tools/lock.py writes them). A requirement changed in pyproject.toml without
`make lock` leaves a lock that no longer satisfies it: these tests fail until the lock
is refreshed.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# The lock each install path of the Makefile reads, and the extras it covers.
LOCKS = {"pylock.toml": (), "pylock.test.toml": ("test", "reference"), "pylock.bundle.toml": ("bundle",)}


def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = pyproject()
    wanted = list(project["project"]["dependencies"]) + list(project["build-system"]["requires"])
    for extra in extras:
        wanted += project["project"]["optional-dependencies"][extra]
    return [Requirement(r) for r in wanted]


def locked(name: str) -> dict[str, Version]:
    with open(ROOT / name, "rb") as fh:
        packages = tomllib.load(fh)["packages"]
    return {canonicalize_name(p["name"]): Version(p["version"]) for p in packages}


def applies(req: Requirement) -> bool:
    return req.marker is None or req.marker.evaluate()


def unsatisfied(reqs: list[Requirement], lock: dict[str, Version]) -> list[str]:
    problems = []
    for req in filter(applies, reqs):
        version = lock.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req} but the lock has {version}")
    return problems


@pytest.mark.parametrize("name", LOCKS)
def test_lock_satisfies_every_requirement_of_its_install_path(name: str) -> None:
    assert unsatisfied(requirements(LOCKS[name]), locked(name)) == []


def test_a_changed_requirement_is_caught() -> None:
    """The check above can fail: a pin the lock does not hold is reported."""
    lock = locked("pylock.toml")
    torch = lock[canonicalize_name("torch")]
    moved = Requirement(f"torch>{torch.public}")
    assert unsatisfied([moved], lock) == [f"{moved} but the lock has {torch}"]
    assert unsatisfied([Requirement("not-a-dependency>=1")], lock)


@pytest.mark.parametrize("name", LOCKS)
def test_every_locked_package_has_a_hash(name: str) -> None:
    with open(ROOT / name, "rb") as fh:
        packages = tomllib.load(fh)["packages"]
    unhashed = [
        p["name"] for p in packages
        if not all(a.get("hashes", {}).get("sha256") for a in p.get("wheels", []) + [p.get("sdist", {})] if a)
    ]
    assert unhashed == []
    assert all(p.get("wheels") or p.get("sdist") for p in packages)


def test_this_environment_was_installed_from_the_test_lock() -> None:
    """What make test runs on is what the lock names (public versions: a CUDA build of the
    same torch, installed as the README's GPU section says, still counts as locked)."""
    drift = []
    for name, version in locked("pylock.test.toml").items():
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            drift.append(f"{name} {version} is not installed")
            continue
        if installed.public != version.public:
            drift.append(f"{name}: installed {installed}, locked {version}")
    assert drift == [], "run `make setup-test` (it installs from pylock.test.toml)"


def test_makefile_installs_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for name in LOCKS:
        assert f"pip install --quiet -r {name}" in makefile
    # no path of the Makefile resolves the project's dependencies afresh
    assert not re.search(r"pip install (--quiet )?-e \.(\[|\s|$)", makefile)
    assert "--no-deps --no-build-isolation -e ." in makefile

