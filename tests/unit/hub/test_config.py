from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.hub.config import DEFAULT_DATA, load
from dockyard.hub.errors import ConfigError


def test_defaults_env_file_and_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_HUB_DATA", raising=False)
    assert load(None, {}).data == Path(DEFAULT_DATA)
    monkeypatch.setenv("DOCKYARD_HUB_DATA", str(tmp_path / "env"))
    assert load(None, {}).data == tmp_path / "env"
    cfg = tmp_path / "hub.toml"
    cfg.write_text('listen = "127.0.0.1:6000"\nmax_page = 7\ndefault_private = true\n')
    c = load(str(cfg), {"listen": None, "data": str(tmp_path / "flag")})
    assert c.listen == "127.0.0.1:6000" and c.max_page == 7 and c.default_private
    assert c.data == tmp_path / "flag"
    assert c.host_port == ("127.0.0.1", 6000)
    assert load(None, {"listen": "[::1]:5000"}).host_port == ("::1", 5000)


@pytest.mark.parametrize(
    "text",
    [
        "nonsense_key = 1\n",
        'max_page = "many"\n',
        'signup = "yes"\n',
        'listen = "nohost"\n',
        "this is not toml",
    ],
)
def test_bad_config_is_refused(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError):
        load(str(cfg), {})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(str(tmp_path / "absent.toml"), {})
