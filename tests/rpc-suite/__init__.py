"""hypha-rpc's own test suite, run against hypha-core-server (written by us; replaces the sdist's
tests/__init__.py). The tests import WS_PORT / WS_SERVER_URL from here: each pytest process gets
its own free port, so several processes can run the suite's files side by side."""

import os
import socket


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WS_PORT = int(os.environ.get("HYPHA_RPC_SUITE_PORT") or _free_port())
WS_SERVER_URL = f"http://127.0.0.1:{WS_PORT}"


def find_item(items, key, value):
    """The first item whose `key` (dict key or attribute) equals `value`, or None."""
    for item in items:
        if (item[key] if isinstance(item, dict) else getattr(item, key)) == value:
            return item
    return None
