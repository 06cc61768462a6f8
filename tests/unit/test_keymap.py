import pytest

from tui.keymap import ACTIONS, KeymapError, bindings, load_keymap


def test_every_binding_has_an_id_and_rollback_comes_first():
    b = bindings()
    assert [x.id for x in b] == [a.id for a in ACTIONS]
    assert b[0].id == "rollback" and b[0].priority


def test_config_file_remaps_keys(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[keys]\nrollback = "ctrl+r"\nadvance = "enter,n"\n')
    monkeypatch.setenv("SHIPDECK_CONFIG", str(cfg))
    assert load_keymap() == {"rollback": "ctrl+r", "advance": "enter,n"}


@pytest.mark.parametrize(("text", "message"), [
    ('[keys]\nrolback = "x"\n', "keys.rolback: unknown action"),
    ("[keys]\nrollback = 3\n", "keys.rollback: expected a key string"),
    ("[keys\n", "config.toml"),
])
def test_bad_config_names_file_and_field(tmp_path, text, message):
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(KeymapError, match=message) as e:
        load_keymap(cfg)
    assert str(cfg) in str(e.value)


def test_missing_config_is_fine(tmp_path):
    assert load_keymap(tmp_path / "none.toml") == {}
