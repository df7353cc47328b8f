"""Every test run (unit and integration) is a development run of the platform: the
services' default environment is production, which refuses the local stack's
credentials and the local signing key. Set before any test module builds settings;
services the tests start inherit it. Tests of the production refusals set
DINAMIS_ENVIRONMENT=production themselves (monkeypatch)."""

from __future__ import annotations

import os

os.environ["DINAMIS_ENVIRONMENT"] = "development"
