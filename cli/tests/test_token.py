import pytest

from dinamis_cli.main import main
from dinamis_shared.auth import TokenVerifier, ensure_local_signing_key


def test_dinamis_token_local_mints_a_development_token_that_says_only_who(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DINAMIS_ENVIRONMENT", "development")
    key_file = tmp_path / "key.pem"
    with pytest.raises(SystemExit) as done:
        main(["token", "--local", "--user", "marie", "--key-file", str(key_file)])
    assert done.value.code == 0
    token = capsys.readouterr().out.strip()
    identity = TokenVerifier(public_key=ensure_local_signing_key(key_file).public_key()).verify_sync(token)
    assert identity.sub == "marie"


@pytest.mark.parametrize("environment", ["production", None])
def test_dinamis_token_is_refused_in_production(tmp_path, monkeypatch, environment):
    """Production, and an unset environment (production is the default)."""
    if environment is None:
        monkeypatch.delenv("DINAMIS_ENVIRONMENT", raising=False)
    else:
        monkeypatch.setenv("DINAMIS_ENVIRONMENT", environment)
    with pytest.raises(SystemExit) as done:
        main(["token", "--local", "--user", "u", "--key-file", str(tmp_path / "k.pem")])
    assert done.value.code == 2
    assert not (tmp_path / "k.pem").exists()


def test_dinamis_token_needs_a_user(monkeypatch):
    monkeypatch.setenv("DINAMIS_ENVIRONMENT", "development")
    with pytest.raises(SystemExit) as done:
        main(["token"])
    assert done.value.code == 2
