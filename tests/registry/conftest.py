"""Fixtures: a registry on SQLite and on a real PostgreSQL server (unique schema per test)."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from privtune.registry import Registry, Store
from privtune.registry.testing import make_model, write_report


def make_keyring(directory: Path):
    from privtune.seal import Keyring

    return Keyring.ephemeral(directory)


@pytest.fixture
def keyring(tmp_path):
    return make_keyring(tmp_path / "keys")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """(url, schema) for each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/registry.db", None
    else:
        dsn = request.getfixturevalue("pg_dsn")
        schema = f"reg_{uuid.uuid4().hex[:12]}"
        yield dsn, schema
        cleanup = Store(dsn, schema=schema)
        cleanup.drop_schema()
        cleanup.close()


@pytest.fixture
def registry(store_url, keyring):
    url, schema = store_url
    store = Store(url, schema=schema)
    yield Registry(store, keyring)
    store.close()


@pytest.fixture(name="make_model")
def _make_model_fixture():
    return make_model


@pytest.fixture(name="write_report")
def _write_report_fixture():
    return write_report


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 collecting POSTed JSON bodies."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            got.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()
