"""download_source against a real local HTTP server serving archives built here."""

from __future__ import annotations

import dataclasses
import logging
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from session_recs.core.errors import ConfigError, DataValidationError, SessionRecsError
from session_recs.data.download import SOURCES, RemoteSource, download_source

from .conftest import listing, retail_frame, stamp, write_retail_zip

ROWS = len(retail_frame())
TINY = dataclasses.replace(SOURCES["online_retail"], name="tiny", expected_rows=ROWS)


class Server:
    """Routes (path → body bytes) served on 127.0.0.1; special paths misbehave on purpose."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path == "/slow.zip":
                    server.release.wait(10)
                    return
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                # /cut/... announces more bytes than it sends, like a dropped connection.
                extra = 1000 if self.path.startswith("/cut/") else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                """Keep the test output clean."""

        return Handler


@pytest.fixture
def server(tmp_path):
    """A running server with the fixture archive at /online+retail.zip; always shut down."""
    serving = Server()
    folder = tmp_path / "build"
    folder.mkdir()
    serving.routes["/online+retail.zip"] = write_retail_zip(retail_frame(), folder)
    serving.thread.start()
    try:
        yield serving
    finally:
        serving.release.set()
        serving.httpd.shutdown()
        serving.httpd.server_close()
        serving.thread.join(5)


@pytest.fixture
def dest(tmp_path) -> Path:
    """Where the Parquet goes: an empty folder of its own, so leftovers are visible."""
    folder = tmp_path / "raw"
    folder.mkdir()
    return folder / "online_retail.parquet"


def test_download_writes_the_verified_parquet(server, dest, caplog):
    caplog.set_level(logging.INFO, logger="session_recs.data.download")

    written = download_source(
        "online_retail", dest, url=server.url("/online+retail.zip"), source=TINY
    )

    assert written == dest
    assert listing(dest.parent) == ["online_retail.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(dest), retail_frame())
    assert server.requests == ["/online+retail.zip"]
    assert any("Downloading tiny from http://127.0.0.1" in r.message for r in caplog.records)


def test_existing_file_needs_force(server, dest):
    url = server.url("/online+retail.zip")
    download_source("online_retail", dest, url=url, source=TINY, progress=False)
    before = stamp(dest)

    with pytest.raises(SessionRecsError, match="already exists; pass --force"):
        download_source("online_retail", dest, url=url, source=TINY, progress=False)

    assert stamp(dest) == before
    assert server.requests == ["/online+retail.zip"]
    download_source("online_retail", dest, url=url, source=TINY, force=True, progress=False)
    assert listing(dest.parent) == ["online_retail.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(dest), retail_frame())


def test_default_expectations_fail_verification_and_leave_nothing(server, dest):
    with pytest.raises(DataValidationError) as excinfo:
        download_source("online_retail", dest, url=server.url("/online+retail.zip"), progress=False)

    message = str(excinfo.value)
    assert f"has {ROWS:,} rows; expected 541,909" in message
    assert server.url("/online+retail.zip") in message
    assert listing(dest.parent) == []


def test_failed_forced_download_keeps_the_old_file(server, dest):
    dest.write_bytes(b"previous table")
    with pytest.raises(DataValidationError, match="expected 541,909"):
        download_source(
            "online_retail", dest, url=server.url("/online+retail.zip"), force=True, progress=False
        )
    assert dest.read_bytes() == b"previous table"
    assert listing(dest.parent) == ["online_retail.parquet"]


def test_http_404_names_the_url(server, dest):
    url = server.url("/missing.zip")
    with pytest.raises(SessionRecsError, match="HTTP 404") as excinfo:
        download_source("online_retail", dest, url=url, source=TINY, progress=False)
    assert url in str(excinfo.value)
    assert listing(dest.parent) == []


def test_archive_without_the_member_lists_its_members(server, dest, tmp_path):
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("README.txt", "hello")
        zipped.writestr("data/Other Retail.xlsx", "not read")
    server.routes["/other.zip"] = archive.read_bytes()

    with pytest.raises(DataValidationError) as excinfo:
        download_source("x", dest, url=server.url("/other.zip"), source=TINY, progress=False)

    message = str(excinfo.value)
    assert "no member 'Online Retail.xlsx'" in message
    assert "['README.txt', 'data/Other Retail.xlsx']" in message
    assert listing(dest.parent) == []


def test_member_is_matched_by_name_case_insensitively(server, dest, tmp_path):
    folder = tmp_path / "nested"
    folder.mkdir()
    server.routes["/nested.zip"] = write_retail_zip(
        retail_frame(), folder, "UCI/ONLINE RETAIL.XLSX"
    )

    download_source("online_retail", dest, url=server.url("/nested.zip"), source=TINY)

    pd.testing.assert_frame_equal(pd.read_parquet(dest), retail_frame())


def test_not_a_zip(server, dest):
    server.routes["/page.zip"] = b"<html>moved</html>"
    with pytest.raises(DataValidationError, match="is not a valid zip archive"):
        download_source("online_retail", dest, url=server.url("/page.zip"), source=TINY)
    assert listing(dest.parent) == []


def test_truncated_download(server, dest):
    server.routes["/cut/online+retail.zip"] = server.routes["/online+retail.zip"]
    with pytest.raises(SessionRecsError, match="cut short: received"):
        download_source(
            "online_retail", dest, url=server.url("/cut/online+retail.zip"), source=TINY
        )
    assert listing(dest.parent) == []


def test_timeout_names_the_url(server, dest):
    url = server.url("/slow.zip")
    with pytest.raises(SessionRecsError, match=r"no answer within 0\.2 s") as excinfo:
        download_source("online_retail", dest, url=url, source=TINY, timeout=0.2)
    assert url in str(excinfo.value)
    assert listing(dest.parent) == []


def test_unreachable_host_names_the_url(dest):
    # Port 9 (discard) on localhost: nothing listens there in a test environment.
    url = "http://127.0.0.1:9/online+retail.zip"
    with pytest.raises(SessionRecsError, match=r"Download of http://127\.0\.0\.1:9/.* failed"):
        download_source("online_retail", dest, url=url, source=TINY, timeout=2)


def test_unknown_name_and_bad_url(dest):
    with pytest.raises(
        ConfigError, match="Unknown dataset 'nope' to download; known: online_retail"
    ):
        download_source("nope", dest)
    with pytest.raises(ConfigError, match="Cannot download 'not a url'"):
        download_source("online_retail", dest, url="not a url")
    with pytest.raises(ConfigError, match="is a folder; give the Parquet file"):
        download_source("online_retail", dest.parent, force=True)
    assert listing(dest.parent) == []


def test_known_sources_describe_the_uci_file():
    source = SOURCES["online_retail"]
    assert isinstance(source, RemoteSource)
    assert source.url == "https://archive.ics.uci.edu/static/public/352/online+retail.zip"
    assert source.member == "Online Retail.xlsx"
    assert source.expected_rows == 541_909
    assert source.expected_columns == tuple(retail_frame().columns)
    with pytest.raises(dataclasses.FrozenInstanceError):
        source.expected_rows = 1  # type: ignore[misc]


def test_the_archive_sha256_is_checked_when_known(server, dest):
    import hashlib

    url = server.url("/online+retail.zip")
    digest = hashlib.sha256(server.routes["/online+retail.zip"]).hexdigest()
    download_source("online_retail", dest, url=url, source=TINY, progress=False, sha256=digest)
    assert pd.read_parquet(dest).shape == retail_frame().shape
    dest.unlink()

    known = dataclasses.replace(TINY, sha256="0" * 64)  # the publisher's, say
    with pytest.raises(DataValidationError, match=f"has sha256 {digest}; expected 0000"):
        download_source("online_retail", dest, url=url, source=known, progress=False)
    assert listing(dest.parent) == []
    with pytest.raises(ConfigError, match="expected 64 hexadecimal digits"):
        download_source("online_retail", dest, url=url, source=TINY, sha256="xyz")


def test_a_file_url_downloads_and_other_schemes_are_refused(server, dest, tmp_path):
    archive = tmp_path / "copy.zip"
    archive.write_bytes(server.routes["/online+retail.zip"])
    download_source("online_retail", dest, url=archive.as_uri(), source=TINY, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(dest), retail_frame())
    with pytest.raises(ConfigError, match="expected an http://, https:// or file:// URL"):
        download_source("online_retail", dest, url="ftp://x/y.zip", source=TINY, force=True)
