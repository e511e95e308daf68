"""The console's third-party assets: fetched from an npm registry by
scripts/fetch_console_assets.py, checked against their pinned digests, and
fetched the same way when the image is built.

The fetcher is run against a registry served from this process (a real HTTP
server on 127.0.0.1 with the registry's tarball layout): the real registry
is what scripts/setup uses on every fresh machine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import re
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _fetcher() -> ModuleType:
    path = REPO / "scripts" / "fetch_console_assets.py"
    spec = importlib.util.spec_from_file_location("fetch_console_assets", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


class Registry:
    def __init__(self) -> None:
        self.tarballs: dict[str, bytes] = {}
        self.requests: list[str] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.requests.append(self.path)
                body = registry.tarballs.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def registry() -> Iterator[Registry]:
    served = Registry()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def _publish(registry: Registry, name: str, version: str, files: dict[str, bytes]) -> str:
    body = _tarball(files)
    base = name.rsplit("/", 1)[-1]
    registry.tarballs[f"/{name}/-/{base}-{version}.tgz"] = body
    return hashlib.sha256(body).hexdigest()


def test_fetches_checks_and_skips_when_done(registry, tmp_path, monkeypatch) -> None:
    fetcher = _fetcher()
    lib = _publish(registry, "lib", "1.2.3", {"package/dist/lib.min.js": b"lib();"})
    scoped = _publish(registry, "@org/kit", "0.1.0", {"package/kit.css": b"a{}"})
    tool = _publish(registry, "tool", "9.0.0", {"package/tool.js": b"tool();"})
    pins = tmp_path / "pins.txt"
    pins.write_text(
        "# comment\n"
        f"lib@1.2.3 {lib} package/dist/lib.min.js\n"
        f"@org/kit@0.1.0 {scoped} package/kit.css\n"
        f"tool@9.0.0 {tool} package/tool.js\n"
    )
    into = tmp_path / "vendor"
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", registry.url)
    args = ["--pins", str(pins), "--into", str(into), "--without", "tool"]

    assert fetcher.main(args) == 0
    assert (into / "lib.min.js").read_bytes() == b"lib();"
    assert (into / "kit.css").read_bytes() == b"a{}"
    assert not (into / "tool.js").exists()
    assert len(registry.requests) == 2

    assert fetcher.main(args) == 0  # done: nothing fetched again
    assert len(registry.requests) == 2
    assert fetcher.main(args[:4]) == 0  # with tool: a different set, fetched
    assert (into / "tool.js").read_bytes() == b"tool();"
    assert len(list(into.glob(".pinned-*"))) == 1


def test_a_tarball_that_does_not_match_its_pin_is_refused(
    registry, tmp_path, monkeypatch, capsys
) -> None:
    fetcher = _fetcher()
    _publish(registry, "lib", "1.2.3", {"package/lib.js": b"tampered();"})
    pins = tmp_path / "pins.txt"
    pins.write_text(f"lib@1.2.3 {'0' * 64} package/lib.js\n")
    into = tmp_path / "vendor"
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", registry.url)
    assert fetcher.main(["--pins", str(pins), "--into", str(into)]) == 1
    assert "sha256" in capsys.readouterr().err
    assert not (into / "lib.js").exists()
    assert not list(into.glob(".pinned-*"))


def test_a_missing_file_or_a_bad_line_is_an_error(registry, tmp_path, monkeypatch, capsys) -> None:
    fetcher = _fetcher()
    lib = _publish(registry, "lib", "1.2.3", {"package/lib.js": b"x"})
    pins = tmp_path / "pins.txt"
    into = tmp_path / "vendor"
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", registry.url)
    pins.write_text(f"lib@1.2.3 {lib} package/other.js\n")
    assert fetcher.main(["--pins", str(pins), "--into", str(into)]) == 1
    assert "no package/other.js" in capsys.readouterr().err
    pins.write_text(f"lib {lib} package/lib.js\n")
    assert fetcher.main(["--pins", str(pins), "--into", str(into)]) == 1
    assert "pins.txt:1" in capsys.readouterr().err


def test_the_pins_cover_every_vendor_asset_the_console_loads() -> None:
    fetcher = _fetcher()
    pins = fetcher.read_pins(REPO / "audit" / "ui" / "vendor_pins.txt")
    provided = {Path(name).name: pin.name for pin in pins for name in pin.files}
    templates = REPO / "audit" / "ui" / "templates"
    loaded = {
        match
        for page in templates.rglob("*.html")
        for match in re.findall(r"/ui/static/vendor/([\w.\-]+)", page.read_text())
    }
    assert loaded, "the console loads vendor assets"
    assert loaded <= provided.keys()
    # the image leaves axe-core out: the console itself must not need it
    assert all(provided[name] != "axe-core" for name in loaded)


def test_the_image_fetches_the_assets_before_installing() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    fetch = dockerfile.index("python scripts/fetch_console_assets.py")
    assert "COPY scripts/fetch_console_assets.py" in dockerfile
    assert fetch < dockerfile.index("pip install --no-compile .")
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "!scripts/fetch_console_assets.py" in ignored
    assert ignored.index("!scripts/fetch_console_assets.py") > ignored.index("scripts")
    # never the working tree's copies: the build fetches and checks them
    assert "audit/ui/static/vendor" in ignored
