"""The display widgets on their own: what an operator reads, with and without colour, at both sizes."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget
from textual_plotext import PlotextPlot

from tests.tui.conftest import screen_text
from tests.tui.snapshot_apps.widgets_demo import GUARDS, SPLIT, T0, TIMELINE, WidgetsDemo, error_rate, latency
from widgets.chart import ChartPlot, MetricChart, ansi_strips, nice_ticks, x_ticks
from widgets.chartdata import ChartData, chart_picture
from widgets.guards import GuardPanel, GuardView
from widgets.splitbar import SplitData, TrafficSplitBar
from widgets.timeline import ChecklistView, PhaseTimeline, PhaseView, StepView, TimelineData
from widgets.units import format_value


class One(App[None]):
    """Hosts one widget at a given height."""

    def __init__(self, widget: Widget, height: int | None = None) -> None:
        super().__init__()
        self.widget = widget
        if height is not None:
            widget.styles.height = height

    def compose(self) -> ComposeResult:
        yield self.widget


# ---------------------------------------------------------------- format_value

@pytest.mark.parametrize(("value", "unit", "shown"), [
    (0.023, "ratio", "2.3%"),
    (0.01, "ratio", "1%"),
    (0.004, "ratio", "0.4%"),
    (0.0, "ratio", "0%"),
    (1.0, "ratio", "100%"),
    (55.25, "percent", "55.2%"),
    (183.4, "ms", "183ms"),
    (1500, "ms", "1.5s"),
    (0.25, "s", "250ms"),
    (300, "s", "5m"),
    (1200, "rps", "1200/s"),
    (12500, "rps", "12.5k/s"),
    (1536, "bytes", "1.5KiB"),
    (5 * 2**20, "bytes", "5MiB"),
    (512, "bytes", "512B"),
    (3.14159, "", "3.14"),
    (14.0, "count", "14"),
    (None, "ms", "—"),
    (float("nan"), "ms", "—"),
])
def test_format_value(value, unit, shown):
    assert format_value(value, unit) == shown


def test_axis_ticks_are_round_numbers():
    assert x_ticks(600, 6)[1] == ["-10m", "-8m", "-6m", "-4m", "-2m", "now"]
    assert x_ticks(60, 3)[1] == ["-1m", "-30s", "now"]
    assert nice_ticks(0, 262, 4) == [0, 100, 200]


# ---------------------------------------------------------------- chart

def test_plot_strips_match_richs_reading_of_plotexts_output():
    """The chart's own ANSI reader gives every cell the character and style Rich's general decoder gives."""
    from rich.text import Text
    from textual_plotext.plot import Plot

    plt = Plot()
    xs = [float(-60 + i) for i in range(60)]
    plt.plot(xs, [50 + (i % 7) for i in range(60)], color=(77, 140, 255), marker="braille")
    plt.plot(xs, [52 - (i % 5) for i in range(60)], color=(62, 196, 91), marker="braille")
    plt.horizontal_line(55, color=(255, 77, 77))
    plt.text("STALE", -30, 53, style="bold", color=(230, 194, 0))
    plt.plotsize(40, 10)
    ansi = plt.build()
    strips = ansi_strips(ansi)
    rich_lines = Text.from_ansi(ansi).split("\n")
    assert len(strips) == len(rich_lines) == 10
    styles_seen = set()
    for strip, line in zip(strips, rich_lines, strict=True):
        cells = [(ch, seg.style) for seg in strip for ch in seg.text]
        assert "".join(ch for ch, _ in cells) == line.plain
        for x, (_, style) in enumerate(cells):
            assert style == line.get_style_at_offset(Console(), x), (line.plain, x)
            styles_seen.add(style)
    # Axes, blue, green, red and the bold text: the comparison covered each kind of run plotext writes.
    assert len(styles_seen) >= 5 and any(style.bold for style in styles_seen)


@pytest.mark.parametrize(("size", "no_color"), [((100, 20), False), ((41, 9), False), ((100, 20), True)])
async def test_a_live_chart_paints_its_series_cell_for_cell_as_plotext_draws_them(size, no_color, monkeypatch):
    """A live chart keeps plotext's axes and threshold and paints the series on them itself; the result is
    what plotext draws from scratch, character and colour, in every cell, including when the kept axes
    are reused for new series."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    rng = random.Random(7)
    chart = MetricChart()
    async with One(chart).run_test(size=size) as pilot:
        chart.update_chart(error_rate())
        await pilot.pause()
        plot = chart.query_one(ChartPlot)
        reused = 0
        for case in range(60):
            window = rng.choice([60.0, 300.0, 600.0])
            now = T0 + rng.random() * 50
            base = rng.choice([0.0, 0.002, 180.0])  # 180: a band far from zero, zoomed in
            series = {}
            for name in rng.sample(["all", "blue", "green", "canary"], rng.randint(1, 3)):
                start = now - window * rng.choice([1.2, 1.0, 0.5, 0.05])
                n = rng.randint(1, 400)
                spread = base * 0.05 + 0.01
                series[name] = [(start + (now - start) * i / n, base + spread * rng.random()) for i in range(n + 1)]
            threshold = rng.choice([None, base + 0.005, base + 0.02])
            data = ChartData("x", "ratio", series, threshold=threshold, now=now, window_s=window)
            for variant in range(2):
                if variant:  # same extremes, same scale: the kept axes are reused
                    series = {k: [(t, v) for t, v in zip([t for t, _ in pts], _shuffled_inside(pts, rng),
                                                         strict=True)] for k, pts in series.items()}
                    data = data._replace(series=series)
                    frame = plot._frame
                picture = chart_picture(data, *plot.size)
                painted = plot._draw(data, picture)
                if variant:
                    reused += plot._frame is frame
                assert painted == plot._draw_plotext(data, picture, picture.series), (case, variant)
        assert reused >= 50  # the comparison covered painting on kept axes, not only on new ones


def _shuffled_inside(points: list[tuple[float, float]], rng: random.Random) -> list[float]:
    """The values in another order, the lowest and highest kept where they are (so the scale is the same)."""
    values = [v for _, v in points]
    inside = [i for i, v in enumerate(values) if v not in (min(values), max(values))]
    moved = [values[i] for i in inside]
    rng.shuffle(moved)
    for i, v in zip(inside, moved, strict=True):
        values[i] = v
    return values


async def test_live_chart_titles_latest_values_and_labels_the_threshold():
    chart = MetricChart()
    async with One(chart).run_test(size=(100, 20)) as pilot:
        chart.update_chart(error_rate())
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "error rate  blue 0.24%  green 2.4%  ┄ > 1% → rollback" in text
        assert "1%├" in text  # the threshold line has its own tick on the y axis
        assert "-5m" in text and "now" in text


async def test_stale_chart_says_so_and_hides_the_last_value():
    chart = MetricChart()
    async with One(chart).run_test(size=(100, 20)) as pilot:
        chart.update_chart(latency())
        await pilot.pause()
        text = screen_text(pilot.app)
        title = text.splitlines()[0]
        assert "⚠ STALE" in title and "no sample for 2m" in title
        assert "blue" not in title and "ms " not in title.split("┄")[0]  # no value shown as current
        assert "⚠ STALE: values below are old" in text  # and inside the (greyed) plot
        assert chart.has_class("stale")


async def test_down_chart_without_data_replaces_the_plot():
    chart = MetricChart()
    data = ChartData("CPU", "percent", {}, status="down", status_detail="connection refused", now=T0)
    async with One(chart).run_test(size=(60, 12)) as pilot:
        chart.update_chart(data)
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "CPU   ✗ DOWN  connection refused" in text
        assert not chart.query_one(PlotextPlot).display
        assert "%┤" not in text  # no axes pretending there is something to read


async def test_chart_detail_is_inert():
    chart = MetricChart()
    data = ChartData("[b]x[/b]", "ms", {}, status="down", status_detail="refused \x1b[2J[red]boom", now=T0)
    async with One(chart).run_test(size=(60, 12)) as pilot:
        chart.update_chart(data)
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "[b]x[/b]" in text and "␛[2J[red]boom" in text


async def test_chart_replots_only_when_the_picture_changes():
    chart = MetricChart()
    data = error_rate()._replace(window_s=400)  # no sample leaves the window in this test
    async with One(chart).run_test(size=(100, 20)) as pilot:

        async def show(d: ChartData) -> int:
            chart.update_chart(d)
            await pilot.pause()  # the plot draws when it paints
            return chart.draws

        drawn = await show(data)
        assert drawn >= 1
        assert await show(data._replace()) == drawn
        column = data.window_s / (2 * chart.query_one(PlotextPlot).size.width)
        end = (math.floor(T0 / column) + 1) * column  # the newest dot column ends here
        later = (T0 + end) / 2
        same = {k: [*v, (later, v[-1][1])] for k, v in data.series.items()}  # lands on the dots already drawn
        assert await show(data._replace(series=same, now=later)) == drawn
        spike = {k: [*v, (later, 0.03)] for k, v in data.series.items()}  # a new highest in that column
        assert await show(data._replace(series=spike, now=later)) == drawn + 1
        assert await show(data._replace(series=spike, now=end + column / 2)) == drawn + 2  # one column on


async def test_a_sample_sends_only_the_rows_it_changes_and_the_screen_matches_a_full_draw():
    """A new sample moves a few cells at the right edge: only those rows go to the terminal, and what the
    terminal then shows is what drawing the whole chart afresh shows."""
    data = error_rate()._replace(window_s=400)
    chart = MetricChart()
    async with One(chart).run_test(size=(100, 20)) as pilot:
        chart.update_chart(data)
        await pilot.pause()
        plot = chart.query_one(ChartPlot)
        column = data.window_s / (2 * plot.size.width)
        later = (T0 + (math.floor(T0 / column) + 1) * column) / 2  # still in the newest dot column
        picture = chart_picture(data, *plot.size)
        row = (picture.hi - picture.lo) / plot.size.height
        # A row and a half under each series' last value, inside the scale: the scale stays as it is.
        spike = data._replace(series={k: [*v, (later, max(v[-1][1] - 1.5 * row, min(y for _, y in v)))]
                                      for k, v in data.series.items()}, now=later)
        asked: list[tuple[Region, ...]] = []
        real = plot.refresh

        def refresh(*regions: Region, **kw: Any) -> Any:
            asked.append(regions)
            return real(*regions, **kw)

        plot.refresh = refresh  # type: ignore[method-assign]
        drawn = chart.draws
        chart.update_chart(spike)
        await pilot.pause()
        assert chart.draws == drawn + 1
        rows = {region.y for regions in asked for region in regions}
        assert asked and all(len(regions) == 1 and regions[0].height == 1 for regions in asked), asked
        assert 0 < len(rows) < plot.size.height // 2, rows
        partial = screen_text(pilot.app)
    fresh = MetricChart()
    async with One(fresh).run_test(size=(100, 20)) as pilot:
        fresh.update_chart(spike)
        await pilot.pause()
        assert screen_text(pilot.app) == partial


async def test_a_relayout_draws_each_chart_once_at_its_new_size():
    chart = MetricChart()
    async with One(chart, height=20).run_test(size=(100, 30)) as pilot:
        chart.update_chart(error_rate())
        await pilot.pause()
        drawn = chart.draws
        chart.styles.height = 14  # the banner appearing above takes rows from the charts
        await pilot.pause()
        await pilot.pause()
        assert chart.query_one(PlotextPlot).size.height == 13
        assert chart.draws == drawn + 1
        assert "1%├" in screen_text(pilot.app)  # the threshold tick, drawn at the new size


async def test_hidden_chart_defers_its_replot_until_shown():
    chart = MetricChart()
    async with One(chart).run_test(size=(100, 20)) as pilot:
        chart.update_chart(error_rate())
        await pilot.pause()
        drawn = chart.draws
        chart.display = False
        await pilot.pause()
        chart.update_chart(latency())
        assert chart.draws == drawn
        chart.display = True
        await pilot.pause()
        assert chart.draws == drawn + 1
        assert "⚠ STALE" in screen_text(pilot.app)


async def test_no_color_chart_marks_series_by_letter(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    chart = MetricChart()
    app = One(chart)
    async with app.run_test(size=(100, 20)) as pilot:
        assert app.no_color
        chart.update_chart(error_rate())
        await pilot.pause()
        plot = "\n".join(screen_text(app).splitlines()[1:])
        assert "bbbb" in plot and "gggg" in plot


# ---------------------------------------------------------------- split bar

async def test_split_labels_target_and_status():
    bar = TrafficSplitBar()
    async with One(bar).run_test(size=(80, 4)) as pilot:
        bar.update_split(SplitData(green=10, target=50, status="shifting", detail="read back from haproxy"))
        await pilot.pause()
        lines = screen_text(pilot.app).splitlines()
        assert lines[0].count("█") + lines[0].count("▒") + lines[0].count("┃") == 80
        assert "┃" in lines[0]  # the target on the bar
        assert lines[1].startswith("blue 90% │ green 10%  → 50%")
        assert "⇄ shifting" in lines[1] and "read back from haproxy" in lines[1]

        bar.update_split(SplitData(green=50, target=50, status="live"))
        await pilot.pause()
        lines = screen_text(pilot.app).splitlines()
        assert lines[1].startswith("blue 50% │ green 50%   ✓ live")
        assert "→" not in lines[1] and "┃" not in lines[0]  # the target is only shown while it differs


async def test_split_stale_and_unknown_are_marked():
    bar = TrafficSplitBar()
    async with One(bar).run_test(size=(80, 4)) as pilot:
        bar.update_split(SplitData(green=10, status="stale", detail="haproxy not answering for 40s"))
        await pilot.pause()
        assert "⚠ STALE" in screen_text(pilot.app)
        bar.update_split(SplitData(green=None, status="unknown", detail="not read yet"))
        await pilot.pause()
        lines = screen_text(pilot.app).splitlines()
        assert set(lines[0].strip()) == {"░"}
        assert "blue ?% │ green ?%" in lines[1] and "? UNKNOWN" in lines[1]


async def test_split_one_line_when_compact():
    bar = TrafficSplitBar()
    async with One(bar, height=1).run_test(size=(80, 3)) as pilot:
        bar.update_split(SPLIT)
        await pilot.pause()
        first = screen_text(pilot.app).splitlines()[0]
        assert first.startswith("blue 90% │ green 10%  → 50% █")
        assert first.rstrip().endswith("⇄ shifting")


# ---------------------------------------------------------------- guards

async def test_guard_rows():
    panel = GuardPanel()
    async with One(panel).run_test(size=(100, 8)) as pilot:
        panel.update_guards(GUARDS)
        await pilot.pause()
        rows = [r.rstrip() for r in screen_text(pilot.app).splitlines()[:6]]
        assert rows[0].startswith("▲ error_rate[green]   2.3% > 1% for 1m40s of 5m ▕")
        assert rows[0].endswith("▏ [rollback]")
        assert rows[1] == "✓ latency_p95[green] 183ms ≤ 250ms over 2m [rollback]"
        assert "✗ success_rate[all]    97% < 99% for 2m of 2m" in rows[2] and rows[2].endswith("TRIPPED [pause]")
        # no value: the row says why, in words, never a number
        assert rows[3] == "? cpu[green]         BLIND: connection refused (> 85%) [alert]"
        assert rows[4] == "… p99[green]         no data yet: green has had traffic 12s; blind at 1m (> 900ms) [pause]"
        assert rows[5] == "○ errors_5xx[green]  no traffic yet: green carries none (> 2%) [rollback]"


async def test_guard_bell_rings_once_per_transition():
    panel = GuardPanel()
    app = One(panel)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    ok = GuardView("error_rate", "above", 0.01, "ratio", 0.002, 0, 60, "ok", "rollback")
    hot = ok._replace(value=0.02, breach_for_s=20, state="breaching")
    tripped = hot._replace(breach_for_s=60, state="tripped")
    other = GuardView("latency", "above", 250, "ms", 120, 0, 60, "ok", "pause")
    async with app.run_test(size=(100, 8)):
        for views in ([ok, other], [hot, other], [hot, other], [tripped, other], [other, tripped]):
            panel.update_guards(views)
        assert rings == [1]  # breaching -> tripped, and a reordered list, do not ring again
        panel.update_guards([tripped, other._replace(value=300, state="breaching")])
        assert rings == [1, 1]  # a second guard going hot does
        panel.update_guards([ok, other])
        panel.update_guards([tripped, other])
        assert rings == [1, 1, 1]  # cooled down, then hot again: a new transition


# ---------------------------------------------------------------- timeline

async def test_timeline_icons_current_step_and_checklist():
    timeline = PhaseTimeline()
    async with One(timeline).run_test(size=(80, 20)) as pilot:
        timeline.update_timeline(TIMELINE)
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "   phase         owner      planned     actual" in text
        assert " ✓ Prep          DevOps     22:00 +10m  22:00 +12m" in text
        assert "▸◷ Canary 10%    alice      22:10 +15m  22:12 +6m  baking" in text
        assert " · Canary 50%    alice      22:25 +15m" in text
        assert "    ✓ shift green → 10%  read back: blue 90% green 10%" in text
        assert "  › ▶ bake 15m  9m left" in text
        assert "    checklist 1/3" in text
        assert "    [x] smoke tests pass — alice 22:14" in text
        assert "  ❯ [ ] dashboards checked" in text
        assert "    [ ] support told" in text
        rendered = timeline.rendered
        assert rendered is not None
        spans = {rendered.text.plain[s.start:s.end]: str(s.style) for s in rendered.text.spans}
        assert "reverse" in spans["bake 15m"]  # the current step
        assert "reverse" in spans["dashboards checked"]  # the checklist cursor
        assert "reverse" in spans["Canary 10%  "]  # the current phase (padded to its column)


async def test_timeline_compact_drops_planned_times():
    timeline = PhaseTimeline()
    async with One(timeline).run_test(size=(80, 20)) as pilot:
        timeline.compact = True
        timeline.update_timeline(TIMELINE)
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "planned" not in text and "22:10" not in text
        assert " ✓ Prep          DevOps     22:00 +12m" in text
        assert "read back" not in text  # step details go too
        assert "\n› ▶ bake 15m" in text and "\n  [x] smoke tests pass — alice 22:14" in text
        timeline.compact = False
        await pilot.pause()
        assert " ✓ Prep          DevOps     22:00 +10m  22:00 +12m" in screen_text(pilot.app)


async def test_timeline_narrow_falls_back_to_actual_times():
    timeline = PhaseTimeline()
    async with One(timeline).run_test(size=(42, 20)) as pilot:
        timeline.update_timeline(TIMELINE)  # not compact, but planned+actual do not fit in 42 columns
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "   phase         owner      actual" in text and "planned" not in text


async def test_timeline_keeps_the_current_phase_in_view():
    phases = [PhaseView(f"phase {i}", "ops", "done", "22:00", "5m", "22:00", "5m") for i in range(30)]
    phases[25] = PhaseView("phase 25", "ops", "running", steps=[StepView("run migration", "running")],
                           current_step=0, checklist=[ChecklistView("backup verified")])
    timeline = PhaseTimeline()
    async with One(timeline).run_test(size=(60, 10)) as pilot:
        timeline.update_timeline(TimelineData(phases, current=25, selected_item=0))
        await pilot.pause()
        await pilot.pause()
        assert timeline.scroll_y > 0
        text = screen_text(pilot.app)
        assert "phase 25" in text and "› ▶ run migration" in text and "❯ [ ] backup verified" in text
        # A manual scroll survives updates that do not move the current phase.
        timeline.scroll_home(animate=False)
        await pilot.pause()
        timeline.update_timeline(TimelineData(
            [*phases[:25], phases[25]._replace(actual_duration="1m"), *phases[26:]], current=25, selected_item=0))
        await pilot.pause()
        assert timeline.scroll_y == 0


async def test_timeline_text_is_inert():
    phases = [PhaseView("[bold]deploy[/bold]\x1b]8;;http://x\x07", "m\x1b[31mallory", "running")]
    timeline = PhaseTimeline()
    async with One(timeline).run_test(size=(80, 6)) as pilot:
        timeline.update_timeline(TimelineData(phases, current=0))
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "[bold]deploy[/bold]␛]8;;http://x␇" in text and "m␛[31mallory" in text


# ---------------------------------------------------------------- composed, with and without colour

async def test_demo_without_colour_still_reads(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = WidgetsDemo()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.no_color
        text = screen_text(app)
        for word in ("blue 90% │ green 10%", "→ 50%", "⇄ shifting", "✗ DOWN", "▲ error_rate", "TRIPPED",
                     "? cpu", "▸◷ Canary 10%", "[x] smoke tests pass — alice 22:14", "❯ [ ] dashboards"):
            assert word in text, word


def test_widgets_80x24(snap_compare):
    assert snap_compare(WidgetsDemo(), terminal_size=(80, 24))


def test_widgets_160x50(snap_compare):
    assert snap_compare(WidgetsDemo(), terminal_size=(160, 50))


def test_picture_keeps_spikes_and_bounds_the_points():
    from widgets.chartdata import chart_picture

    points = [(T0 - 900.0 + i, 1.0 + (i % 3) * 0.01) for i in range(901)]
    points[450] = (points[450][0], 99.0)  # one spike among 900 samples
    pic = chart_picture(ChartData("x", "", {"blue": points}, now=T0, window_s=900.0), 30, 10)
    (name, drawn), = pic.series
    assert name == "blue" and len(drawn) <= 2 * 61 and max(y for _, y in drawn) == pytest.approx(99.0, rel=0.01)
    xs = [x for x, _ in drawn]
    assert xs == sorted(xs) and -900.0 - 15 <= xs[0] < -880 and -15 < xs[-1] < 0  # 15 s: one column
    sparse = [(T0 - 60.0 * i, float(i)) for i in range(9, -1, -1)]  # a sample a minute, columns of 15 s
    few = chart_picture(ChartData("x", "", {"blue": sparse}, now=T0, window_s=900.0), 30, 10)
    assert len(few.series[0][1]) == 10  # sparse samples: one point each, none made up


async def test_a_table_rendered_once_per_width_paints_what_rich_renders():
    """The keys table is rendered once per width and reused for every height query and paint."""
    from rich.table import Table
    from textual.style import Style as TextualStyle
    from textual.visual import RenderOptions
    from textual.widgets import Static

    from widgets.strips import RenderedOnce

    table = Table(title="keys", expand=True)
    for column in ("keys", "action", "now"):
        table.add_column(column)
    for i in range(12):
        table.add_row(f"k{i}", f"action {i}", "a reason long enough to wrap at a narrow width " * (i % 3))
    host = Static()
    async with One(host).run_test(size=(100, 40)) as pilot:
        once = RenderedOnce(table)
        style, options = TextualStyle(), RenderOptions(host._get_style, {})
        for width in (90, 41):
            mine = once.render_strips(width, None, style, options)
            assert once.render_strips(width, None, style, options)[0] is mine[0]  # not rendered again
            console = pilot.app.console
            rich_lines = console.render_lines(table, console.options.update_width(width), pad=False)
            assert once.get_height({}, width) == len(mine) == len(rich_lines) > 12
            assert [s.text for s in mine] == ["".join(seg.text for seg in line) for line in rich_lines]


async def test_a_guard_not_judged_now_reads_as_no_verdict():
    panel = GuardPanel()
    async with One(panel).run_test(size=(80, 3)) as pilot:
        panel.update_guards([GuardView("error_rate", "above", 0.01, "ratio", 0.002, 0, 60, "inactive", "rollback",
                                       side="green")])
        await pilot.pause()
        row = screen_text(pilot.app).splitlines()[0].rstrip()
        # not "0.2% > 1% (inactive)": a false statement read at a glance
        assert row == "· error_rate[green] 0.2% not judged now (rule: > 1%) [rollback]"
