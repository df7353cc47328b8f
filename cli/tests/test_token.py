import pytest

from dinamis_cli.main import main
from dinamis_shared.auth import Role, TokenVerifier, ensure_local_signing_key


def test_dinamis_token_mints_a_token_the_services_accept(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DINAMIS_AUTH_JWKS_URL", raising=False)
    key_file = tmp_path / "key.pem"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "token",
                "--user",
                "marie",
                "--org",
                "org-inrae",
                "--role",
                "member",
                "--role",
                "referent",
                "--key-file",
                str(key_file),
            ]
        )
    assert done.value.code == 0
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier(public_key=ensure_local_signing_key(key_file).public_key()).verify_sync(token)
    assert (principal.user_id, principal.organisation_id) == ("marie", "org-inrae")
    assert principal.roles == {Role.MEMBER, Role.REFERENT}


def test_dinamis_token_refuses_when_an_identity_provider_is_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("DINAMIS_AUTH_JWKS_URL", "https://idp.example.fr/jwks")
    with pytest.raises(SystemExit) as done:
        main(["token", "--user", "u", "--org", "o", "--key-file", str(tmp_path / "k.pem")])
    assert done.value.code == 2
