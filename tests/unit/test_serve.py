"""pyharness serve: run list, run pages, files, zips, and no way out of the store.

Every path-escape attempt is its own test, sent byte for byte with
http.client (no client-side normalisation), against a real server on
loopback over a synthetic store that has secrets next to it.
"""

from __future__ import annotations

import http.client
import io
import os
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pyharness.report.demo_store import make_run
from pyharness.report.serve import make_server, safe_path

SECRET = "TOP-SECRET-do-not-serve"


@dataclass
class Served:
    port: int
    store: Path
    runs: list[Path]  # oldest first

    def get(self, path: str, method: str = "GET",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            hdrs = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders()
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def rel(self, run: Path) -> str:
        return run.relative_to(self.store).as_posix()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("serve")
    store = base / "store"
    store.mkdir()
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    runs = [make_run(store, workload="set", valid=True, seed=0, when=t0),
            make_run(store, workload="register", valid=False, seed=1,
                     when=t0 + timedelta(minutes=1)),
            make_run(store, workload="set", valid=False, seed=2,
                     when=t0 + timedelta(minutes=2))]
    # A run that never got to checking: no results.json.
    (runs[0].parent / "20260101T115900.00Z").mkdir()
    (runs[0].parent / "20260101T115900.00Z" / "history.jsonl").write_text("")
    # Secrets around the store, and symlinks inside it that point at them.
    (base / "secret.txt").write_text(SECRET)
    sibling = base / "store-sibling"  # shares the store's name as a prefix
    sibling.mkdir()
    (sibling / "secret.txt").write_text(SECRET)
    (store / "evil").symlink_to("/etc")
    (store / "sib").symlink_to("../store-sibling")
    (store / "secret-link.txt").symlink_to(base / "secret.txt")
    (runs[2] / "nodes" / "n1" / "leak.log").symlink_to(os.path.relpath(
        base / "secret.txt", runs[2] / "nodes" / "n1"))
    server = make_server(store, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(server.server_address[1], store, runs)
    finally:
        server.shutdown()
        server.server_close()


def refused(served: Served, path: str, *codes: int) -> None:
    status, _, body = served.get(path)
    assert status in (codes or (400, 404)), (path, status)
    assert SECRET.encode() not in body and b"root:" not in body


# --- path escapes: each must fail


def test_dotdot(served: Served) -> None:
    refused(served, "/runs/../secret.txt", 400)
    refused(served, "/runs/latest/../../secret.txt", 400)
    refused(served, "/browse/../", 400)
    refused(served, "/zip/../store-sibling", 400)
    refused(served, f"http://127.0.0.1:{served.port}/runs/../secret.txt", 400)  # absolute-form


def test_percent_encoded_dots(served: Served) -> None:
    refused(served, "/runs/%2e%2e/secret.txt", 400)
    refused(served, "/runs/%2E%2E/secret.txt", 400)
    refused(served, "/runs/.%2e/secret.txt", 400)
    refused(served, "/runs/latest/%2e%2e%2f%2e%2e%2fsecret.txt", 400)


def test_percent_encoded_slash(served: Served) -> None:
    refused(served, "/runs/..%2Fsecret.txt", 400)
    refused(served, "/runs/latest%2F..%2F..%2Fsecret.txt", 400)
    refused(served, "/browse/..%2f", 400)


def test_double_encoding_stays_a_literal_name(served: Served) -> None:
    # %25 is '%': decoded once, this is a file literally named "%2e%2e", which is absent.
    refused(served, "/runs/%252e%252e/secret.txt", 404)


def test_encoded_and_raw_backslash(served: Served) -> None:
    refused(served, "/runs/..%5Csecret.txt", 400)
    refused(served, "/runs/latest%5C..%5C..%5Csecret.txt", 400)
    refused(served, "/runs/..\\secret.txt", 400)


def test_nul_byte(served: Served) -> None:
    refused(served, "/runs/secret-link.txt%00.png", 400)


def test_absolute_path(served: Served) -> None:
    refused(served, "/runs//etc/passwd", 400)
    refused(served, "/runs/%2Fetc%2Fpasswd", 400)
    refused(served, "/browse//etc/", 400)
    refused(served, "/zip//etc", 400)
    refused(served, f"/runs{served.store.parent}/secret.txt", 404)  # taken as relative: absent


def test_symlink_out_of_the_store(served: Served) -> None:
    refused(served, "/runs/evil/passwd", 404)
    refused(served, "/browse/evil/", 404)
    refused(served, "/runs/secret-link.txt", 404)
    refused(served, "/runs/" + served.rel(served.runs[2]) + "/nodes/n1/leak.log", 404)


def test_symlink_to_a_sibling_directory_outside(served: Served) -> None:
    # "<base>/store-sibling" starts with "<base>/store" as a string: a prefix
    # check would let it through; containment by path components does not.
    refused(served, "/runs/sib/secret.txt", 404)
    refused(served, "/browse/sib/", 404)


def test_safe_path_keeps_latest_inside_the_store(served: Served) -> None:
    assert safe_path(served.store, "latest/") == served.runs[2].resolve()
    assert safe_path(served.store, "latest/test.json") == (served.runs[2] / "test.json").resolve()


def test_zip_leaves_out_symlinks_that_leave_the_store(served: Served) -> None:
    status, _, body = served.get("/zip/" + served.rel(served.runs[2]))
    assert status == 200
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert not any(n.endswith("leak.log") for n in names)
    assert SECRET.encode() not in body


# --- read-only, loopback


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"])
def test_only_get_and_head(served: Served, method: str) -> None:
    target = served.runs[0] / "history.jsonl"
    before = target.read_bytes()
    status, headers, _ = served.get("/runs/" + served.rel(served.runs[0]) + "/history.jsonl",
                                    method)
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert target.read_bytes() == before


def test_head_sends_headers_only(served: Served) -> None:
    path = "/runs/latest/history.jsonl"
    status, headers, body = served.get(path, "HEAD")
    assert status == 200 and body == b""
    assert int(headers["content-length"]) == (served.runs[2] / "history.jsonl").stat().st_size


def test_bound_to_loopback_and_refuses_foreign_host_names(served: Served) -> None:
    server = make_server(served.store, port=0, quiet=True)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()
    status, _, _ = served.get("/", headers={"Host": "attacker.example:80"})
    assert status == 421
    assert served.get("/", headers={"Host": f"localhost:{served.port}"})[0] == 200


# --- listing, filters, pages


def _listed(body: bytes) -> list[str]:
    text = body.decode()
    return [line.split('href="/runs/', 1)[1].split('/"', 1)[0]
            for line in text.split('<tr class="run')[1:]]


def test_list_is_newest_first_and_coloured(served: Served) -> None:
    status, _, body = served.get("/")
    assert status == 200
    listed = _listed(body)
    expected = [served.rel(r) for r in reversed(served.runs)]
    assert listed[:3] == expected
    assert len(listed) == 4  # and the unchecked run, with no verdict
    text = body.decode()
    assert text.count('class="run invalid"') == 2 and text.count('class="run valid"') == 1
    assert text.count('class="run none"') == 1


def test_list_filters_by_workload_and_verdict(served: Served) -> None:
    _, _, body = served.get("/?workload=set&verdict=false")
    assert _listed(body) == [served.rel(served.runs[2])]
    _, _, body = served.get("/?workload=register")
    assert _listed(body) == [served.rel(served.runs[1])]
    _, _, body = served.get("/?verdict=true")
    assert _listed(body) == [served.rel(served.runs[0])]
    _, _, body = served.get("/?verdict=none")
    assert len(_listed(body)) == 1 and "20260101T115900.00Z" in _listed(body)[0]


def test_run_page_is_rendered_without_writing_to_the_store(served: Served) -> None:
    run = served.runs[1]
    assert not (run / "report.html").exists()
    status, headers, body = served.get("/runs/" + served.rel(run) + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"INVALID" in body and b"linear-" in body and b"all runs" in body
    assert not (run / "report.html").exists()


def test_run_without_trailing_slash_redirects(served: Served) -> None:
    status, headers, _ = served.get("/runs/latest")
    assert status == 301 and headers["location"] == "/runs/latest/"


def test_latest_symlink_inside_the_store_works(served: Served) -> None:
    status, _, body = served.get("/runs/latest/history.jsonl")
    assert status == 200 and body == (served.runs[2] / "history.jsonl").read_bytes()
    status, _, body = served.get("/runs/latest/")
    assert status == 200 and served.runs[2].name.encode() in body


def test_files_are_served_with_types(served: Served) -> None:
    base = "/runs/" + served.rel(served.runs[0])
    status, headers, body = served.get(base + "/latency-raw.png")
    assert status == 200 and headers["content-type"] == "image/png"
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    status, headers, _ = served.get(base + "/nodes/n1/etcd.log")
    assert status == 200 and headers["content-type"].startswith("text/plain")


def test_names_with_spaces_and_unicode_round_trip(served: Served) -> None:
    run = served.runs[0]
    (run / "notes é 1.txt").write_text("hello")
    try:
        _, _, listing = served.get("/browse/" + served.rel(run) + "/")
        href = next(h for h in listing.decode().split('href="')[1:] if "notes" in h)
        href = href.split('"', 1)[0]
        assert href.endswith("notes%20%C3%A9%201.txt")
        status, _, body = served.get(href)
        assert status == 200 and body == b"hello"
    finally:
        (run / "notes é 1.txt").unlink()


def test_file_browser_lists_a_run(served: Served) -> None:
    status, _, body = served.get("/browse/" + served.rel(served.runs[2]) + "/")
    assert status == 200
    text = body.decode()
    for name in ("history.jsonl", "results.json", "timeline.html", "nodes/", "ansible/"):
        assert f">{name}</a>" in text
    status, _, body = served.get("/browse/" + served.rel(served.runs[2]) + "/nodes/n1/")
    assert status == 200 and b">etcd.log</a>" in body
    assert b"leak.log</td><td>outside the store" in body


def test_zip_download_streams_the_whole_run(served: Served) -> None:
    run = served.runs[0]
    status, headers, body = served.get("/zip/" + served.rel(run))
    assert status == 200 and headers["content-type"] == "application/zip"
    assert "content-length" not in headers  # written while it is made
    zf = zipfile.ZipFile(io.BytesIO(body))
    assert zf.testzip() is None
    label = "-".join(Path(served.rel(run)).parts)
    on_disk = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    assert sorted(n.split("/", 1)[1] for n in zf.namelist()) == on_disk
    assert zf.read(f"{label}/history.jsonl") == (run / "history.jsonl").read_bytes()


def test_zip_of_something_that_is_not_a_run_is_refused(served: Served) -> None:
    assert served.get("/zip/")[0] == 404
    assert served.get("/zip/" + served.runs[0].parent.name)[0] == 404


def test_unknown_routes_are_404(served: Served) -> None:
    assert served.get("/etc/passwd")[0] == 404
    assert served.get("/runs/no-such-run/")[0] == 404
