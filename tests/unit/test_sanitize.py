from widgets.sanitize import sanitize, sanitize_line

EVIL = "\x1b[2J\x1b]8;;http://x\x07link\x1b]8;;\x07 \r[bold red]boom[/] \x9b31m \u202eevil\x08\x7f"


def test_controls_become_visible_and_inert():
    out = sanitize(EVIL)
    assert not any(ord(c) < 0x20 and c not in "\n" for c in out)
    assert not any(0x7F <= ord(c) <= 0x9F for c in out)
    assert "\u202e" not in out
    assert out.startswith("␛[2J␛]8;;http://x␇link")
    assert "␍[bold red]boom[/]" in out  # markup stays literal text


def test_line_variant_folds_newlines_and_tabs():
    assert sanitize_line("a\tb\nc\r\n") == "a    b ⏎ c␍ ⏎ "
    assert sanitize("a\nb") == "a\nb"


def test_plain_text_unchanged():
    text = "GET /api/orders 200 83ms — ação ✓ 🚀"
    assert sanitize(text) == text == sanitize_line(text)
