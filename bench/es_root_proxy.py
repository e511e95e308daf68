"""A local proxy for ElastAlert2 against the test node (bench only).

    .venv/bin/python bench/es_root_proxy.py --listen 127.0.0.1:29299 --node http://127.0.0.1:29200

The test node answers ``GET /`` with 405, which stops ElastAlert2 at start
(it reads the cluster's version there). This proxy answers ``GET /`` with a
version document built from ``GET /_nodes/_local`` and forwards every other
request unchanged (method, path, query, headers, body).
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:29299")
    parser.add_argument("--node", default="http://127.0.0.1:29200")
    args = parser.parse_args()
    node = args.node.rstrip("/")
    with urllib.request.urlopen(f"{node}/_nodes/_local", timeout=10) as response:
        info = next(iter(json.loads(response.read())["nodes"].values()))
    root = json.dumps(
        {
            "name": info["name"],
            "cluster_name": "elastra-audit-local",
            "version": {"number": info["version"], "build_flavor": "default"},
            "tagline": "You Know, for Search",
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            if self.command in ("GET", "HEAD") and self.path in ("/", ""):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-elastic-product", "Elasticsearch")
                self.send_header("Content-Length", str(len(root)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(root)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            request = urllib.request.Request(
                node + self.path, data=body, method=self.command, headers=dict(self.headers)
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    status, headers, payload = response.status, response.headers, response.read()
            except urllib.error.HTTPError as err:
                status, headers, payload = err.code, err.headers, err.read()
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    host, port = args.listen.rsplit(":", 1)
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
