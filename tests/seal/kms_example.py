#!/usr/bin/env python3
"""A reference ``kms_command`` (docs/keys.md): the KEK protocol over stdin/stdout.

Stands in for a KMS or Vault client in tests: KEK versions live in ``DIR/kek-vN`` (random, 0600)
and never leave this process. Usage: ``kms_command: "python kms_example.py DIR"``.
"""

import base64
import json
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def main() -> int:
    directory = sys.argv[1]
    req = json.loads(sys.stdin.read())
    path = os.path.join(directory, f"kek-v{int(req['version'])}")
    if os.environ.get("KMS_EXAMPLE_FAIL"):
        print(json.dumps({"error": "service unavailable", "code": "other"}))
        return 1
    if req["op"] == "create":
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, os.urandom(32))
            os.close(fd)
        print(json.dumps({"data": ""}))
        return 0
    with open(path, "rb") as fh:
        kek = AESGCM(fh.read())
    data, aad = base64.b64decode(req["data"]), base64.b64decode(req["aad"])
    if req["op"] == "wrap":
        nonce = os.urandom(12)
        out = nonce + kek.encrypt(nonce, data, aad)
    elif req["op"] == "unwrap":
        try:
            out = kek.decrypt(data[:12], data[12:], aad)
        except InvalidTag:
            print(json.dumps({"error": "authentication failed", "code": "auth"}))
            return 0
    else:
        print(json.dumps({"error": f"unknown op {req['op']}"}))
        return 2
    print(json.dumps({"data": base64.b64encode(out).decode()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
