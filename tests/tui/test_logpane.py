"""The log pane: batched, bounded, filterable, follows until scrolled up, and inert to escapes."""

from textual.app import App, ComposeResult

from tests.tui.conftest import screen_text, until
from widgets.logpane import LogPane, LogRecord

T0 = 1_795_000_000.0


class PaneApp(App[None]):
    def __init__(self, **kw) -> None:
        super().__init__()
        self.kw = kw

    def compose(self) -> ComposeResult:
        yield LogPane(id="logs", **self.kw)


def recs(n: int, start: int = 0, source: str = "app", level: str = "info"):
    return [LogRecord(T0, source, level, f"line {i}") for i in range(start, start + n)]


async def test_writes_are_batched_per_flush():
    app = PaneApp()
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogPane)
        for i in range(50):
            pane.push(recs(10, i * 10))
        assert pane.line_count == 0  # nothing drawn before a flush
        pane.flush()
        assert pane.writes == 1 and pane.line_count == 500
        await pilot.pause()
        assert "line 499" in screen_text(app)


async def test_lines_that_come_before_the_lines_widget_wait_for_it_in_order_and_filtered():
    pane = LogPane(lines_later=True, id="logs")  # as between a screen's first frame and its lines' mount
    pane.push(recs(3))
    pane.apply_filter("line 1")
    pane.flush()
    assert pane.line_count == 0 and len(pane.queue) == 3 and pane.following
    pane.push(recs(20, 3))

    class Holding(App[None]):
        def compose(self) -> ComposeResult:
            yield pane

    app = Holding()
    async with app.run_test(size=(100, 20)) as pilot:
        await until(pilot, lambda: pane.line_count > 0, what="the lines widget, then a flush")
        await pilot.pause()
        shown = screen_text(app)
        assert pane.line_count == 11 and not pane.queue  # line 1 and lines 10-19
    assert shown.index("line 1 ") < shown.index("line 10") < shown.index("line 19")
    assert "line 2 " not in shown


async def test_memory_is_bounded_and_bursts_drop_oldest_with_a_marker():
    app = PaneApp(max_lines=100, queue_cap=150)
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogPane)
        pane.push(recs(400))
        assert len(pane.queue) == 150 and pane.dropped == 250
        pane.flush()
        await pilot.pause()
        assert pane.line_count == 100 and len(pane.kept) == 100
        assert "line 399" in screen_text(app)
        pane.kept.clear()
        pane.push(recs(1, 1000))
        pane.dropped += 1  # a new drop since the last notice: the notice counts that one, not all so far
        pane.flush()
        assert any(ln.startswith("… 1 older line not shown") for ln in pane.kept)


async def test_full_log_keeps_repainting():
    """Textual 8's Log(max_lines=N) stops repainting once full unless refreshed after writes."""
    app = PaneApp(max_lines=50)
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogPane)
        pane.push(recs(60))
        pane.flush()
        await pilot.pause()
        for batch in range(3):
            pane.push(recs(5, 1000 + batch * 5))
            pane.flush()
            await pilot.pause()
            assert f"line {1004 + batch * 5}" in screen_text(app)


async def test_filter_and_follow():
    app = PaneApp()
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(LogPane)
        pane.push(recs(40, source="green") + [LogRecord(T0, "blue", "error", "boom on blue")] + recs(40, 40))
        pane.flush()
        await pilot.pause()
        assert pane.following
        pane.action_filter()
        await pilot.press("b", "o", "o", "m")
        assert pane.filter_text == "boom" and pane.line_count == 1
        assert "boom on blue" in screen_text(app) and "line 10" not in screen_text(app)
        await pilot.press("escape")
        assert pane.filter_text == "" and pane.line_count == 81
        log = pane.lines_widget
        log.scroll_home(animate=False)
        await pilot.pause()
        pane.push(recs(5, 500))
        pane.flush()
        await pilot.pause()
        assert not pane.following and "End to follow" in str(pane.border_subtitle)
        assert "line 504" not in screen_text(app)
        log.focus()
        await pilot.press("end")
        await pilot.pause()
        assert pane.following and "line 504" in screen_text(app)


async def test_escapes_and_markup_are_inert():
    app = PaneApp()
    async with app.run_test(size=(160, 10)) as pilot:
        pane = app.query_one(LogPane)
        evil = "\x1b[2J\x1b]8;;http://x\x07link\x1b]8;;\x07 \r[bold red]boom[/] \x9b31m"
        pane.push([LogRecord(T0, "evil\x1b[31m", "error", evil)])
        pane.flush()
        await pilot.pause()
        text = screen_text(app)
        assert "[bold red]boom[/]" in text
        assert "␛[2J" in text and "␍" in text
        for ch in ("\x1b", "\x07", "\r", "\x9b"):
            assert ch not in text
        assert "\x1b" not in "".join(pane.kept)


async def test_a_line_wider_than_the_pane_does_not_stop_it_following():
    """The horizontal scrollbar such a line brings takes a row: the pane still shows the newest line after it,
    and after every batch that follows (at 80x24 the demo's log froze on its first screenful)."""
    app = PaneApp()
    async with app.run_test(size=(60, 12)) as pilot:
        pane = app.query_one(LogPane)
        pane.push(recs(30))
        pane.flush()
        await pilot.pause()
        pane.push([LogRecord(T0, "app", "error", "upstream reset: " + "x" * 120)] + recs(3, 30))
        pane.flush()
        await pilot.pause()
        assert pane.lines_widget.show_horizontal_scrollbar
        for n in range(33, 60, 3):
            pane.push(recs(3, n))
            pane.flush()
            await pilot.pause()
            assert pane.following and f"line {n + 2} " in screen_text(app) + " ", n


async def test_a_write_is_measured_in_the_write_in_cells_and_leaves_no_worker_holding_its_lines():
    """Textual's Log measures each write in a thread worker, and the executor's idle threads kept their last worker,
    with its batch of copied lines, alive: 3.5 MB of a screen's RSS after a million-line burst. The pane's lines
    widget measures in the write, in terminal cells."""
    app = PaneApp()
    async with app.run_test(size=(60, 12)) as pilot:
        pane = app.query_one(LogPane)
        pane.push(recs(200))
        pane.flush()
        narrow = pane.lines_widget.virtual_size.width
        pane.push([LogRecord(T0, "app", "error", "漢" * 70)] + recs(5, 200))  # 70 characters, 140 cells
        pane.flush()
        assert not [w for w in app.workers if w.name == "_update_size"]
        assert pane.lines_widget.virtual_size.width == narrow + 140 - len("line 199")
        await pilot.pause()
        assert pane.lines_widget.show_horizontal_scrollbar and pane.following
