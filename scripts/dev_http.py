"""Seed Home Assistant's stored HTTP settings so scripts/develop listens on loopback only.

A YAML http: block is only a trial that Home Assistant reverts after five
minutes (and then listens on 0.0.0.0), so the confirmed setting is written to
.storage/http instead, through Home Assistant's own schema.

Usage: python scripts/dev_http.py CONFIG_DIR HOST PORT
"""

from __future__ import annotations

import json
from pathlib import Path
import sys

from homeassistant.components.http.config import (
    HTTP_STORAGE_SCHEMA,
    STORAGE_KEY,
    STORAGE_MINOR_VERSION,
    STORAGE_VERSION,
)
from homeassistant.util import dt as dt_util


def main() -> int:
    """Write .storage/http unless it already says the same."""
    config_dir, host, port = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    stable = dict(HTTP_STORAGE_SCHEMA({"server_host": [host], "server_port": port}))
    stable |= {"created_at": dt_util.utcnow().isoformat(), "error": None, "error_message": None}
    path = config_dir / ".storage" / STORAGE_KEY
    if path.exists():
        current = json.loads(path.read_text(encoding="utf-8"))["data"]
        if current.get("pending") is None and all(
            current["stable"].get(key) == stable[key] for key in ("server_host", "server_port")
        ):
            return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_MINOR_VERSION,
        "key": STORAGE_KEY,
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
