"""Print the PyPI requirements of the core integrations a configuration loads.

Home Assistant pip-installs an integration's requirements the first time it
loads it. scripts/setup installs them ahead of time instead, so the first start
of scripts/develop is quick and works without surprises.

Usage: python scripts/ha_requirements.py config/configuration.yaml
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import sys

from homeassistant import bootstrap, components

TOP_LEVEL_KEY = re.compile(r"^([a-z0-9_]+):")


def configured_domains(config_file: Path) -> set[str]:
    """Return the top-level integration keys of a configuration.yaml."""
    domains = set()
    for line in config_file.read_text(encoding="utf-8").splitlines():
        if match := TOP_LEVEL_KEY.match(line):
            domains.add(match.group(1))
    return domains


def main() -> int:
    """Print one requirement a line."""
    components_dir = Path(components.__file__).parent
    wanted = configured_domains(Path(sys.argv[1]))
    # What bootstrap loads on every start of a non-Supervisor installation.
    wanted |= set(bootstrap.CORE_INTEGRATIONS)
    wanted |= set(bootstrap.DEFAULT_INTEGRATIONS)
    wanted |= set(bootstrap.LOGGING_AND_HTTP_DEPS_INTEGRATIONS)
    wanted |= set(bootstrap.FRONTEND_INTEGRATIONS)
    seen: set[str] = set()
    requirements: set[str] = set()
    while wanted:
        domain = wanted.pop()
        manifest_file = components_dir / domain / "manifest.json"
        if domain in seen or not manifest_file.exists():
            continue
        seen.add(domain)
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        requirements.update(manifest.get("requirements", []))
        wanted.update(manifest.get("dependencies", []))
    print("\n".join(sorted(requirements)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
