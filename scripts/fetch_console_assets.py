#!/usr/bin/env python3
"""Fetch the console's third-party assets into audit/ui/static/vendor.

    python3 scripts/fetch_console_assets.py [--pins FILE] [--into DIR] [--without NAME]...

Each line of the pins file (audit/ui/vendor_pins.txt) names an npm package
at an exact version, the sha256 of its registry tarball and the files to
take from it. The tarball comes straight from the registry
(``$NPM_CONFIG_REGISTRY``, default https://registry.npmjs.org), is checked
against the digest before anything is read from it, and the files are
copied flat into the vendor directory. The app serves them itself (never
from a CDN).

Standard library only: it runs in scripts/setup before anything else is
installed and in the Dockerfile's build stage, where there is no npm (the
image shipped without these files before, so its console had no htmx).
A marker named after the pins' digest makes a second run a no-op, and a
changed pin fetches again. ``--without`` leaves a package out (the image
leaves out axe-core: only the browser tests use it).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import sys
import tarfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PINS = REPO / "audit" / "ui" / "vendor_pins.txt"
DEFAULT_INTO = REPO / "audit" / "ui" / "static" / "vendor"
DEFAULT_REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    sha256: str
    files: tuple[str, ...]

    def tarball_url(self, registry: str) -> str:
        # The registry's layout: <name>/-/<unscoped name>-<version>.tgz
        base = self.name.rsplit("/", 1)[-1]
        return f"{registry.rstrip('/')}/{self.name}/-/{base}-{self.version}.tgz"


class AssetError(Exception):
    pass


def read_pins(path: Path) -> list[Pin]:
    pins = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        line = text.strip()
        if not line or line.startswith("#"):
            continue
        spec, digest, *files = line.split()
        name, at, version = spec.rpartition("@")
        if not at or not name or not version or len(digest) != 64 or not files:
            raise AssetError(f"{path}:{number}: expected 'name@version sha256 file...'")
        pins.append(Pin(name, version, digest.lower(), tuple(files)))
    return pins


def fetch(pins: list[Pin], into: Path, registry: str, marker: str) -> bool:
    """Fetch every pin into ``into``; False if the marker says it is done."""
    done = into / marker
    if done.exists():
        return False
    into.mkdir(parents=True, exist_ok=True)
    if urllib.parse.urlsplit(registry).scheme not in ("https", "http"):
        raise AssetError(f"registry {registry!r}: not an http(s) URL")
    for pin in pins:
        url = pin.tarball_url(registry)
        # http(s) only (checked above); the digest is checked before use
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310
            body = response.read()
        actual = hashlib.sha256(body).hexdigest()
        if actual != pin.sha256:
            raise AssetError(f"{pin.name}@{pin.version}: sha256 {actual}, pinned {pin.sha256}")
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            for member_name in pin.files:
                try:
                    member = archive.getmember(member_name)
                except KeyError:
                    raise AssetError(f"{pin.name}@{pin.version}: no {member_name}") from None
                source = archive.extractfile(member)
                if source is None:
                    raise AssetError(f"{pin.name}@{pin.version}: {member_name} is not a file")
                with source, open(into / Path(member_name).name, "wb") as target:
                    shutil.copyfileobj(source, target)
    for old in into.glob(".pinned-*"):
        old.unlink()
    done.touch()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pins", type=Path, default=DEFAULT_PINS)
    parser.add_argument("--into", type=Path, default=DEFAULT_INTO)
    parser.add_argument("--without", action="append", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    registry = os.environ.get("NPM_CONFIG_REGISTRY") or DEFAULT_REGISTRY
    pinned = args.pins.read_bytes() + "\0".join(sorted(args.without)).encode()
    marker = ".pinned-" + hashlib.sha256(pinned).hexdigest()[:16]
    try:
        pins = [pin for pin in read_pins(args.pins) if pin.name not in args.without]
        fetched = fetch(pins, args.into, registry, marker)
    except (AssetError, OSError) as error:
        print(f"fetch_console_assets: {error}", file=sys.stderr)
        return 1
    if fetched:
        print(f"fetch_console_assets: fetched into {args.into}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
