"""Cross-service and integration tests. They run against the real local stack
(`deploy/local/stack up`; `make test` starts it). A server that does not answer
fails the test run with a clear message: nothing is faked, nothing is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The tests run the platform in development (the local stack's credentials, the local
# signing key); the services' default is production. Set before any settings are built,
# and inherited by the services the tests start.
os.environ["DINAMIS_ENVIRONMENT"] = "development"

from dinamis_shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "deploy" / "local" / "stack"
PROBE = ROOT / "deploy" / "local" / "probe.py"


def stack(*args: str) -> str:
    """Run `deploy/local/stack ARGS` (e.g. to stop and restart one server)."""
    done = subprocess.run([str(STACK), *args], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"stack {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def settings() -> ServiceSettings:
    return ServiceSettings()


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory) -> Path:
    """A token signing key of the module's own (services started with
    DINAMIS_AUTH_LOCAL_KEY_FILE pointing at it accept tokens minted with it)."""
    from dinamis_shared.auth import ensure_local_signing_key

    path = tmp_path_factory.mktemp("auth") / "signing-key.pem"
    ensure_local_signing_key(path)
    return path


@pytest.fixture(scope="session", autouse=False)
def live_stack(settings):
    """Fail early, and say so, when the stack is not up."""
    done = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, env=os.environ)
    if done.returncode != 0:
        pytest.fail(
            "the local stack does not answer (run `make test`, or `deploy/local/stack up`):\n" + done.stdout,
            pytrace=False,
        )
    return settings
