"""Pilot tests: each key drives the engine; assert on commands, backend calls and the journal."""

from tests.tui.conftest import PLANS as ROOT_PLANS
from tests.tui.conftest import FrozenClock, pilot_plan, screen_text, until
from tui.engine import journal
from tui.screens.confirm import ConfirmScreen
from tui.screens.prompt import WeightPrompt
from widgets.logpane import LogPane


def commands(app):
    recs = journal.load(app.engine.journal_path).records
    return [(r["data"]["name"], r["operator"]) for r in recs if r["kind"] == "event" and r["data"]["type"] == "command"]


def status_text(app) -> str:
    return "\n".join(screen_text(app).splitlines()[:2])


async def test_keys_drive_a_whole_canary(app_factory):
    app = app_factory()
    traffic = app.engine.driver.backends.traffic
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Prep" in app.screen.title_text
        await pilot.press("enter")
        await until(pilot, lambda: app.state["waiting"].startswith("gate"), what="gate")
        assert commands(app) == [("advance", "tester")]
        await pilot.press("a")
        await until(pilot, lambda: app.state["waiting"].startswith("checklist"))
        await pilot.press("t")
        await pilot.press("down", "t")
        await until(pilot, lambda: app.state["phases"][0]["status"] == "done")
        ticked = [c["ticked_by"] for c in app.state["phases"][0]["checklist"]]
        assert ticked == ["tester", "tester"]
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["traffic"] == 10, what="shift 10")
        assert ("shift", 10) in traffic.calls
        # green's first sample after the shift is the evidence a further shift waits for
        await until(pilot, lambda: app.why_not("shift_next") is None, what="evidence at 10%")
        # shift to the plan's next weight, with a preview of what the backend will do
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        assert any("green 50%" in line for line in app.screen.lines)
        await pilot.press("enter")
        await until(pilot, lambda: app.state["traffic"] == 50, what="shift 50")
        # a typed weight
        await pilot.press("w")
        assert isinstance(app.screen, WeightPrompt)
        await pilot.press("1", "5", "0", "enter")
        await pilot.pause()
        assert "0 to 100" in screen_text(app)
        await pilot.press("backspace", "backspace", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await until(pilot, lambda: app.state["traffic"] == 1, what="shift 1")
        await pilot.press("p")
        await until(pilot, lambda: app.state["status"] == "paused")
        await pilot.press("p")
        await until(pilot, lambda: app.state["status"] == "running")
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.dangerous
        await pilot.press("enter")
        await until(pilot, lambda: app.state["status"] == "rolled-back", what="rollback")
        assert app.state["traffic"] == 0 and traffic.calls[-1] == ("rollback", 0)
    names = [n for n, _ in commands(app)]
    assert names == ["advance", "approve", "tick", "tick", "advance", "shift", "shift", "pause", "resume", "rollback"]
    recs = journal.load(app.engine.journal_path).records
    intents = [r["data"]["kind"] for r in recs if r["kind"] == "intent"]
    assert intents == ["shift", "shift", "shift", "rollback"]
    outcomes = [r["data"]["data"].get("green") for r in recs if r["kind"] == "outcome"]
    assert outcomes == [10, 50, 1, 0]


async def test_rollback_from_the_first_phase_and_cancel_keeps_state(app_factory):
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert app.state["status"] == "pending" and not commands(app)
        await pilot.press("R", "enter")
        await until(pilot, lambda: app.state["status"] == "rolled-back")
        assert app.state["traffic"] == 0


async def test_unavailable_actions_are_greyed_with_a_reason(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 50)) as pilot:
        assert app.check_action("approve", ()) is None
        assert app.why_not("approve") == "nothing is waiting for approval"
        assert app.check_action("rollback", ()) is True
        await pilot.press("question_mark")
        assert app.center.help_panel.display and app.screen is app.center  # a panel: the keys stay live
        text = screen_text(app)
        assert "nothing is waiting for approval" in text and "ROLLBACK" in text
        await pilot.press("escape")
        assert not app.center.help_panel.display
        await pilot.press("question_mark", "question_mark")  # ? toggles it too
        assert not app.center.help_panel.display
        await pilot.press("a")  # greyed: no command reaches the engine
        await pilot.pause(0.2)
        assert commands(app) == []


async def test_a_hung_backend_shows_and_keys_keep_working(app_factory):
    loaded = pilot_plan(**{"delay: 0": "delay: 0, hang: true"})
    app = app_factory(loaded)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["waiting"].startswith("gate"))
        await pilot.press("w", "1", "0", "enter", "enter")  # the first canary weight: allowed before evidence
        await until(pilot, lambda: "⏳" in status_text(app) and "traffic" in status_text(app), what="busy")
        await pilot.press("question_mark")  # the screen answers while the backend hangs
        assert app.center.help_panel.display
        await pilot.press("escape")
        await until(pilot, lambda: "✗" in status_text(app), timeout=10, what="failed")
        assert "timed out" in status_text(app)
    recs = journal.load(app.engine.journal_path).records
    outcome = [r for r in recs if r["kind"] == "outcome"][0]
    assert not outcome["data"]["ok"] and "timed out" in outcome["data"]["error"]


async def test_quit_during_a_live_run_asks_first(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["status"] == "running")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert app.is_running
        await pilot.press("q", "enter")
        await until(pilot, lambda: not app.is_running, what="exit")
    assert app.return_value == 1


async def test_keys_are_remappable(app_factory):
    app = app_factory(keymap={"rollback": "ctrl+r"})
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.dangerous


async def test_demo_autopilot_rolls_back_bad_canary_without_a_key(app_factory):
    from backends.base import ScaledClock
    from tests.conftest import ROOT
    from tui.engine.plan import load_plan

    app = app_factory(load_plan(ROOT / "examples" / "demo.yaml"), clock=ScaledClock(60), demo=True,
                      autopilot_delay=0.05)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.state["status"] == "rolled-back", timeout=90, what="guard rollback")
        assert not app.helm_taken
    recs = journal.load(app.engine.journal_path).records
    ops = {r["operator"] for r in recs if r["kind"] == "event" and r["data"]["type"] == "command"}
    assert ops == {"autopilot"}
    guard = [r for r in recs if r["kind"] == "event" and r["data"]["type"] == "guard"]
    assert guard and guard[0]["data"]["metric"] == "error_rate"


async def test_first_key_takes_the_helm(app_factory):
    from tests.conftest import ROOT
    from tui.engine.plan import load_plan

    app = app_factory(load_plan(ROOT / "examples" / "demo.yaml"), clock=FrozenClock(), demo=True,
                      autopilot_delay=0.05)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.state["status"] == "running")
        await pilot.press("x")
        assert not app.autopilot.active and app.helm_taken
        await until(pilot, lambda: "AUTOPILOT" not in status_text(app), what="the banner gone at the next render")


async def test_palette_offers_every_action_with_its_reason(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 50)):
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert "ROLLBACK" in commands and commands["ROLLBACK"].endswith("available")
        assert commands["Approve"] == "a — unavailable: nothing is waiting for approval"


async def test_high_contrast_theme_and_no_color(app_factory, monkeypatch):
    app = app_factory(theme_name="shipdeck-contrast")
    async with app.run_test(size=(80, 24)):
        assert app.theme == "shipdeck-contrast"
    monkeypatch.setenv("NO_COLOR", "1")
    plain = app_factory()
    async with plain.run_test(size=(80, 24)) as pilot:
        assert plain.no_color
        # the first full paint can take a while on a loaded machine: wait for it, not a fixed time
        await until(pilot, lambda: "ROLLBACK" in screen_text(plain) and "error_rate" in screen_text(plain),
                    what="the first full paint")
        # without colour the guard and plan states still read: icons and words carry them
        text = screen_text(plain)
        assert "○ error_rate[green] no traffic yet: green carries none" in text
        assert "ROLLBACK" in text


async def test_guard_breach_rings_the_bell_once(app_factory):
    from widgets.guards import GuardPanel, GuardView

    app = app_factory(clock=FrozenClock())  # no engine samples to repaint the panel under the test
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(160, 50)) as pilot:
        # the first sample renders before the test paints its own guard rows (a fixed pause lost that race under load)
        await until(pilot, lambda: "error_rate" in screen_text(app) and "ROLLBACK" in screen_text(app),
                    what="the first full paint")
        await pilot.pause(0.3)
        rings.clear()
        panel = app.center.query_one(GuardPanel)
        ok = GuardView("error_rate", "above", 0.01, "ratio", 0.002, 0, 60, "ok", "rollback")
        hot = GuardView("error_rate", "above", 0.01, "ratio", 0.02, 20, 60, "breaching", "rollback")
        for view in (ok, hot, hot, hot, ok, hot):
            panel.update_guards([view])
        # What the panel paints, read before an await: the app's once-a-second clock tick repaints the rows from
        # its own guards, which raced a read of the screen (seen in CI under load)
        assert "for 20s of 1m" in panel.render().plain
        await pilot.pause()
        assert rings == [1, 1]  # once per breach, not once per refresh


async def test_o_shows_the_current_phase_notes_from_a_runbook(app_factory):
    from tests.conftest import ROOT
    from tui.engine.runbook import load_runbook
    from tui.screens.notes import NotesScreen

    app = app_factory(load_runbook(ROOT / "tests" / "fixtures" / "runbooks" / "checkout-release.md"))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.why_not("notes") is None
        await pilot.press("o")
        assert isinstance(app.screen, NotesScreen)
        await until(pilot, lambda: "Notes of phase" in screen_text(app), what="the notes painted")
        text = screen_text(app)
        assert "Notes of phase 'Phase 1: Preparation'" in text
        assert "Everything in this phase must be true before traffic moves." in text
        await pilot.press("escape")
        assert not isinstance(app.screen, NotesScreen)


async def test_the_war_room_banner_says_rolled_back_across_the_screen(app_factory):
    from widgets.banner import StateBanner

    app = app_factory()
    async with app.run_test(size=(160, 50)) as pilot:
        banner = app.center.query_one(StateBanner)
        assert not banner.display  # nothing to shout about while the night runs normally
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["status"] == "running", what="running")
        await pilot.press("R", "enter")
        await until(pilot, lambda: "R O L L E D   B A C K" in screen_text(app), what="the banner")
        rows = [ln for ln in screen_text(app).splitlines() if "R O L L E D" in ln]
        assert len(rows) == 1 and banner.size.height == 3 and banner.size.width == 160
    small = app_factory()
    async with small.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "enter")
        await until(pilot, lambda: small.state["status"] == "running", what="running")
        await pilot.press("R", "enter")
        await until(pilot, lambda: "R O L L E D   B A C K" in screen_text(small), what="the banner")
        assert small.center.query_one(StateBanner).size.height == 1  # one row on a small terminal


async def test_a_pause_answers_on_the_status_line_a_frame_before_the_banner_moves_the_screen(app_factory):
    """The banner coming relayouts the whole screen (every chart redraws): the operator's answer is not kept
    waiting behind it."""
    app = app_factory()
    frames: list[str] = []
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["status"] == "running", what="running")
        display = app._display

        def recording(screen, renderable):
            display(screen, renderable)
            if renderable is not None:
                frames.append(screen_text(app))

        app._display = recording
        await pilot.press("p")
        await until(pilot, lambda: "P A U S E D" in screen_text(app), what="the banner")
    first = next(i for i, frame in enumerate(frames) if "PAUSED" in frame.splitlines()[0])
    assert "P A U S E D" not in frames[first]
    assert any("P A U S E D" in frame for frame in frames[first + 1:])


async def test_the_banner_shows_the_newest_state_whatever_came_between_two_paints():
    from rich.text import Text
    from textual.app import App

    from tui.screens.command_center import CommandCenter
    from tui.screens.help import HelpPanel
    from widgets.banner import StateBanner
    from widgets.keybar import KeyBar

    center = CommandCenter([], 100, HelpPanel(lambda a: a, lambda a: None, id="help"), KeyBar())
    app = App()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(center)
        banner = center.query_one(StateBanner)
        center.set_status(Text("paused"), Text(""), ("PAUSED", "yellow"))
        center.set_status(Text("rolling back"), Text("⚠ guard error_rate"), ("ROLLING BACK", "red"))
        center.set_status(Text("rolled back"), Text("run over"), ("ROLLED BACK", "red"))
        assert not banner.display  # nothing moved before the status line was painted
        await until(pilot, lambda: banner.display, what="the banner")
        await pilot.pause()
        assert (banner.word, banner.colour) == ("ROLLED BACK", "red")
        assert center.query_one("#waiting").text.plain == "run over"
        center.set_status(Text("running"), Text(""), ("", "red"))
        await until(pilot, lambda: not banner.display, what="the banner gone")


async def test_outside_the_window_n_is_refused_until_an_override_with_a_reason(app_factory, tmp_path):
    from tui.engine.plan import load_plan_text
    from tui.screens.prompt import ReasonPrompt

    text = (ROOT_PLANS / "pilot.yaml").read_text().replace(
        "settings:", "window: {start: '22:00', end: '23:00', timezone: UTC}\nsettings:")
    clock = FrozenClock(1_795_000_000.0)  # 2026-11-18 08:26 UTC: long before 22:00
    app = app_factory(load_plan_text(text, str(tmp_path / "w.yaml")), clock=clock)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.engine.state.outside_window != "", what="the window state")
        assert app.why_not("advance").startswith("outside the plan's window 22:00–23:00 UTC (opens)")
        await pilot.press("O")
        assert isinstance(app.screen, ReasonPrompt)
        await pilot.press("enter")  # no reason: not accepted
        assert isinstance(app.screen, ReasonPrompt)
        for ch in "CAB-42 approved":
            await pilot.press("space" if ch == " " else ch)
        await pilot.press("enter")
        await until(pilot, lambda: app.engine.state.window_override != "", what="the override")
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["status"] == "running", what="running")
    recs = journal.load(app.engine.journal_path).records
    override = next(r for r in recs if r["kind"] == "event" and r["data"].get("name") == "override")
    assert override["operator"] == "tester" and override["data"]["args"] == {"reason": "CAB-42 approved"}


async def test_a_dialog_dims_the_command_center_as_textual_does(app_factory):
    """Every dialog's backdrop is the command center blended with the dialog's tint, cell for cell what
    Textual's own translucent backdrop draws, and nothing under it answers the mouse."""
    from rich.segment import Segment
    from textual.renderables.background_screen import BackgroundScreen

    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("n")
        assert isinstance(app.screen, ConfirmScreen)
        tint = app.screen.styles.background
        assert 0 < tint.a < 1
        box = app.screen.query_one("#confirm-box").region

        def compare() -> tuple[int, list[tuple[int, int]], list[list[tuple[str, object]]]]:
            below = app.screen_stack[-2]._compositor.render_strips()
            theirs: list[list[tuple[str, object]]] = [[]]
            for seg in BackgroundScreen.process_segments((s for strip in below for s in [*strip, Segment.line()]),
                                                         tint):
                if seg.text == "\n":
                    theirs.append([])
                else:
                    theirs[-1].extend((ch, seg.style) for ch in seg.text)
            compared, differ = 0, []
            for y, strip in enumerate(app.screen._compositor.render_strips()):
                cells = [(ch, seg.style) for seg in strip for ch in seg.text]
                for x, (ch, style) in enumerate(cells):
                    if not box.contains(x, y):
                        if (ch, style) != theirs[y][x]:
                            differ.append((x, y))
                        assert not style.meta and not style.link
                        compared += 1
            return compared, differ, theirs

        for _ in range(3):  # the two renders are taken one after the other: the header's clock may tick between
            compared, differ, theirs = compare()
            if not differ:
                break
            await pilot.pause(0.2)
        assert differ == []
        assert compared > 120 * 4 and any(ch.strip() for line in theirs for ch, _ in line[:box.x])


async def test_help_is_a_panel_the_keys_work_through_and_it_follows_the_run(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("question_mark")
        assert app.center.help_panel.display and app.focused is app.center.help_panel

        def pause_row() -> str:
            return next(line for line in screen_text(app).splitlines() if "│ Pause" in line)

        assert "the run is pending" in pause_row()
        await pilot.press("n")  # through the open help: the next phase's confirmation
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await until(pilot, lambda: app.state["status"] == "running", what="running")
        await until(pilot, lambda: "available" in pause_row(), what="the help's 'now' column follows the run")
        assert app.center.help_panel.display
        await pilot.press("escape")
        assert not app.center.help_panel.display and app.focused is not app.center.help_panel


async def test_a_key_paints_at_once_not_on_the_next_tick(app_factory, monkeypatch):
    """With the refresh tick pushed an hour away, what keys change still reaches the screen: a key's
    effect is painted when it is handled."""
    import tui.app

    monkeypatch.setattr(tui.app, "RENDER_INTERVAL", 3600.0)
    app = app_factory()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["waiting"].startswith("gate"), what="gate")
        await pilot.press("a")
        await until(pilot, lambda: "❯ [ ] Backup verified" in screen_text(app), what="the checklist, selected")
        await pilot.press("down")
        await pilot.pause()
        assert "❯ [ ] Pager on" in screen_text(app)


async def test_the_key_line_shows_each_key_greys_what_is_unavailable_and_a_click_presses_it(app_factory):
    from widgets.keybar import KeyBar

    app = app_factory()
    async with app.run_test(size=(160, 50)) as pilot:
        bar = app.center.query_one(KeyBar)
        line = screen_text(app).splitlines()[-1]
        assert line.startswith(" R ROLLBACK  n Next  a Approve ") and line.rstrip().endswith("▏^p Commands")
        segments = {seg.text: seg.style for seg in bar.render().render(app.console)}
        assert segments[" a "].dim and not segments[" n "].dim  # nothing waits for approval; n is available
        bells = []
        app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
        await pilot.click(KeyBar, offset=(line.index(" a ") + 1, 0))
        await pilot.pause()
        assert bells and commands(app) == [] and app.screen is app.center
        await pilot.click(KeyBar, offset=(line.index(" n ") + 1, 0))
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        line = screen_text(app).splitlines()[-1]
        keys, _, palette = line.partition("▏")
        shown = [key for key in bar._keys[:-1] if f" {key[1]} {key[2]} " in keys]
        assert palette.strip() == "^p Commands" and 3 <= len(shown) < len(bar._keys) - 1, line
        assert keys.rstrip() == "".join(f" {key[1]} {key[2]} " for key in shown).rstrip(), line  # no key cut short
        assert keys.rstrip().endswith(" ? Help  q Quit"), line  # at 80 columns too, as in htop


async def test_esc_clears_a_log_filter_first_then_closes_the_help(app_factory):
    from widgets.logpane import LogPane

    app = app_factory()
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.center.query_one(LogPane)
        await pilot.press("question_mark", "slash", "x")
        assert app.center.help_panel.display and pane.filter_text == "x"
        await pilot.press("escape")
        assert pane.filter_text == "" and app.center.help_panel.display
        await pilot.press("escape")  # focus is in the log pane, with no filter left: Esc reaches the help
        assert not app.center.help_panel.display


async def test_a_burst_between_two_paints_keeps_the_newest_lines_and_counts_the_rest(app_factory):
    """Lines are kept as the engine sent them until the paint, bounded by what the pane keeps: a burst costs
    the screen no more memory than max_log_lines, and the pane says how many it never showed."""
    app = app_factory(pilot_plan(**{"  logs: [{type: simulated}]\n": ""}))  # only the lines this test sends
    async with app.run_test(size=(160, 50)) as pilot:
        keep = app.plan.settings.max_log_lines
        await until(pilot, lambda: app.center.is_mounted)
        line = {"ts": 1_795_000_000.0, "source": "burst", "level": "info"}
        app._from_engine({"type": "logs", "lines": [{**line, "text": f"early {i}"} for i in range(3)]})
        app._from_engine({"type": "logs", "lines": [{**line, "text": f"line {i}"} for i in range(keep + 1000)]})
        # before the screen's loop has run: nothing queued beyond what the pane keeps, the rest counted
        assert len(app._pending_logs) == keep and app._logs_dropped == 1003
        pane = app.center.query_one(LogPane)
        await until(pilot, lambda: pane.kept and pane.kept[-1].endswith(f"line {keep + 999}"), what="the newest line")
        kept = list(pane.kept)
        assert len(kept) == keep and kept[-1].endswith(f"line {keep + 999}")
        # 3 + 1,000 the screen let go, and one more to make room for the notice in a full pane
        assert kept[0].startswith("… 1004 older lines not shown"), kept[:2]
        assert not any("early" in ln for ln in kept)


async def test_once_a_burst_stops_the_screen_gives_its_heap_back_and_not_for_a_trickle(app_factory, monkeypatch):
    """glibc keeps the heap a burst grew; the screen trims it once a pane's worth of lines came and stopped."""
    from tui import memory

    trims: list[int] = []
    monkeypatch.setattr(memory, "give_back", lambda: trims.append(len(app._pending_logs)))
    app = app_factory(pilot_plan(**{"  logs: [{type: simulated}]\n": ""}))
    async with app.run_test(size=(160, 50)) as pilot:
        keep = app.plan.settings.max_log_lines
        await until(pilot, lambda: app.center.is_mounted)
        line = {"ts": 1_795_000_000.0, "source": "burst", "level": "info"}
        app._from_engine({"type": "logs", "lines": [{**line, "text": f"trickle {i}"} for i in range(keep // 2)]})
        pane = app.center.query_one(LogPane)
        await until(pilot, lambda: pane.kept and pane.kept[-1].endswith(f"trickle {keep // 2 - 1}"))
        await pilot.pause(0.5)  # quiet ticks after half a pane: nothing to give back
        assert trims == []
        app._from_engine({"type": "logs", "lines": [{**line, "text": f"burst {i}"} for i in range(keep)]})
        await until(pilot, lambda: trims, what="the trim after the burst")
        await pilot.pause(0.5)
        assert trims == [0]  # once, with nothing left to paint
