"""Browser tests: the portal in real headless Chromium (Debian's `chromium`, which
deploy/local/install installs), driven by Python Playwright launched with
`executable_path` — never `playwright install`. They need the local stack like the
integration tests, and are skipped, saying why, only when Chromium is absent.

Screenshots of every page go to `.artifacts/screenshots/portal/` (the path is printed at
the end of the run), with axe-core's report of each page (`axe-<page>.json`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser.portal_stack import CHROMIUM, SCREENSHOTS


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/browser/" not in str(item.fspath):
            continue
        item.add_marker(pytest.mark.integration)
        item.fixturenames.insert(0, "live_stack")
        if not CHROMIUM.exists():
            reason = f"{CHROMIUM} is absent (Debian's chromium package: deploy/local/install installs it)"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def screenshots() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if SCREENSHOTS.exists() and any(SCREENSHOTS.iterdir()):
        shots = sorted(p.name for p in SCREENSHOTS.glob("*.png"))
        terminalreporter.write_sep("-", "portal screenshots")
        terminalreporter.write_line(f"{len(shots)} screenshots and axe-core reports in {SCREENSHOTS}")
        for name in shots:
            terminalreporter.write_line(f"  {name}")
