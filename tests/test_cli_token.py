"""`jobtag token create / list / revoke`: the secret is printed once, names and scopes listed."""

from __future__ import annotations

from click.testing import CliRunner

from jobtag.cli import main


def test_token_commands(tmp_path):
    args = ["--home", str(tmp_path / "home")]

    def run(*more: str, code: int = 0):
        result = CliRunner().invoke(main, [*args, *more])
        assert result.exit_code == code, result.output + result.stderr
        return result

    secret = run("token", "create", "board", "--scope", "write").stdout.strip()
    assert secret.startswith("jt_")
    listed = run("token", "list").stdout
    assert "board\twrite" in listed and secret not in listed
    assert "exists" in run("token", "create", "board", code=3).stderr
    assert run("token", "create", "x", "--scope", "root", code=2)
    assert "revoked" in run("token", "revoke", "board").stdout
    assert "no token named board" in run("token", "revoke", "board", code=6).stderr
    assert "no tokens" in run("token", "list").stdout
