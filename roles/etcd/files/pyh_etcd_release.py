#!/usr/bin/env python3
"""Fetch one etcd release file into the controller's cache, checked by sha256.

Run by the etcd role on the controller (delegate_to localhost, run_once),
once per release the play needs, with the Python that runs ansible-playbook:

    pyh_etcd_release.py --cache-dir /var/cache/pyharness/releases \\
        --source deb --suite trixie --package etcd-server \\
        --package-version 3.5.16-4 --file etcd-server_3.5.16-4_amd64.deb \\
        --sha256 0875...

Idempotent: a cached file whose sha256 matches is kept and nothing is
fetched. Otherwise the file is fetched into a temporary directory of the
cache, checked, and only then renamed into place, so the cache never holds a
file that was not checked. Prints one JSON object ``{"changed", "path",
"sha256"}``; on any failure one line on stderr and exit 1 (a checksum
mismatch names the file, the expected and the actual sum).

Sources:

- ``deb``: ``apt-get download PACKAGE=VERSION`` under an apt configuration
  of the cache's own (``CACHE/apt/SUITE``: its own sources.list naming only
  deb.debian.org's SUITE main, its own lists, state, status file and package
  cache, no sources.list.d, no preferences), so the machine's /etc/apt and
  its package lists are never changed. Release files are verified against
  /usr/share/keyrings/debian-archive-keyring.gpg, which on Debian 12 holds
  the keys that sign trixie and sid.
- ``wheel``: ``pip download --no-deps --only-binary=:all: --platform TAG
  PACKAGE==VERSION`` with this Python's pip (its configured index), TAG the
  pinned file name's platform, so a wheel for another architecture than the
  controller's is fetched as well.

Only the standard library: it runs from the role's files/ directory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEBIAN_MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
TIMEOUT = 600


class FetchError(Exception):
    """One line saying what failed."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def apt_options(apt_dir: Path) -> list[str]:
    """apt-get options that point every file apt reads or writes (sources,
    lists, status, cache, preferences) into ``apt_dir``; apt.conf.d (e.g. a
    proxy) is still read, never written."""
    etc, state, cache = apt_dir / "etc", apt_dir / "state", apt_dir / "cache"
    return ["-o", f"Dir::Etc::SourceList={etc / 'sources.list'}",
            "-o", f"Dir::Etc::SourceParts={etc / 'sources.list.d'}",
            "-o", f"Dir::Etc::Preferences={etc / 'preferences'}",
            "-o", f"Dir::Etc::PreferencesParts={etc / 'preferences.d'}",
            "-o", f"Dir::State={state}",
            "-o", f"Dir::State::status={state / 'status'}",
            "-o", f"Dir::Cache={cache}",
            # our own state: no lock on the system's dpkg or lists is needed
            "-o", "Debug::NoLocking=1",
            # the download dir is the cache's, which _apt may not enter
            "-o", "APT::Sandbox::User=root"]


def prepare_apt(apt_dir: Path, suite: str) -> None:
    etc, state, cache = apt_dir / "etc", apt_dir / "state", apt_dir / "cache"
    for d in (etc / "sources.list.d", etc / "preferences.d", state / "lists" / "partial",
              cache / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    line = f"deb [signed-by={KEYRING}] {DEBIAN_MIRROR} {suite} main\n"
    src = etc / "sources.list"
    if not src.exists() or src.read_text() != line:
        src.write_text(line)


def _run(argv: list[str], cwd: Path, what: str) -> None:
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FetchError(f"{what}: {e}") from None
    if p.returncode != 0:
        lines = (p.stderr.strip() or p.stdout.strip() or f"exit {p.returncode}").splitlines()
        errors = [ln for ln in lines if ln.startswith(("E:", "ERROR"))] or lines[-1:]
        raise FetchError(f"{what}: {' '.join(errors)[:500]}")


def fetch_deb(apt_dir: Path, suite: str, package: str, version: str, into: Path) -> None:
    prepare_apt(apt_dir, suite)
    opts = apt_options(apt_dir)
    # Refresh the cache's own lists only (never the machine's).
    _run(["apt-get", *opts, "-q", "update"], into, f"apt-get update ({suite})")
    _run(["apt-get", *opts, "-q", "download", f"{package}={version}"], into,
         f"apt-get download {package}={version} ({suite})")


def wheel_platforms(file: str) -> list[str]:
    """The platform tags of a wheel's file name (``...-manylinux1_x86_64.whl``),
    none for a pure one (``any``)."""
    tag = file.removesuffix(".whl").rsplit("-", 1)[-1]
    return [] if tag == "any" else tag.split(".")


def fetch_wheel(package: str, version: str, file: str, into: Path) -> None:
    # The pinned file's platform, not this machine's: a host may differ.
    platforms = [a for p in wheel_platforms(file) for a in ("--platform", p)]
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
          *platforms, "--no-cache-dir", "-q", "-d", str(into), f"{package}=={version}"], into,
         f"pip download {package}=={version}")


def fetch(cache_dir: Path, source: str, package: str, version: str, file: str,
          sha256: str, suite: str | None = None) -> dict[str, object]:
    """Make ``cache_dir/file`` a checked copy of the release; see the module doc."""
    if "/" in file or file in ("", ".", ".."):
        raise FetchError(f"{file!r}: a file name, not a path")
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256.lower()):
        raise FetchError(f"{file}: the pinned sha256 must be 64 hex digits, got {sha256!r}")
    expected = sha256.lower()
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / file
    if path.exists():
        actual = sha256_of(path)
        if actual != expected:
            raise FetchError(f"{path}: sha256 mismatch: expected {expected}, got {actual} "
                             "(the cached file is not the pinned one; remove it to fetch again)")
        return {"changed": False, "path": str(path), "sha256": actual}
    tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache_dir))
    try:
        if source == "deb":
            if not suite:
                raise FetchError(f"{file}: source deb needs a suite")
            fetch_deb(cache_dir / "apt" / suite, suite, package, version, tmp)
        elif source == "wheel":
            fetch_wheel(package, version, file, tmp)
        else:
            raise FetchError(f"{file}: unknown source {source!r} (deb or wheel)")
        got = tmp / file
        if not got.is_file():
            names = ", ".join(sorted(p.name for p in tmp.iterdir())) or "nothing"
            raise FetchError(f"{file}: the download gave {names}, not {file}")
        actual = sha256_of(got)
        if actual != expected:
            raise FetchError(f"{file}: sha256 mismatch: expected {expected}, got {actual}")
        os.replace(got, path)
        return {"changed": True, "path": str(path), "sha256": actual}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", required=True, type=Path)
    ap.add_argument("--source", required=True, choices=["deb", "wheel"])
    ap.add_argument("--package", required=True)
    ap.add_argument("--package-version", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--sha256", required=True)
    ap.add_argument("--suite")
    a = ap.parse_args(argv)
    try:
        out = fetch(a.cache_dir, a.source, a.package, a.package_version, a.file, a.sha256,
                    a.suite)
    except (FetchError, OSError) as e:
        print(f"pyharness: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
