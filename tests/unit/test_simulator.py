from backends.base import BackendContext
from backends.simulated import SimulatedLogs, SimulatedMetrics, SimulatedTraffic, World


class FakeClock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def now(self):
        return self.t

    async def sleep(self, s):
        self.t += s


def world(scenario, seed=3):
    clock = FakeClock()
    return World(scenario, seed, BackendContext(clock=clock)), clock


def test_deterministic_for_a_seed():
    a, _ = world("healthy")
    b, _ = world("healthy")
    c, _ = world("healthy", seed=4)
    assert a.values(1_000_050.0) == b.values(1_000_050.0)
    assert a.values(1_000_050.0) != c.values(1_000_050.0)


def test_bad_canary_climbs_past_5_percent_only_at_half_traffic():
    w, clock = world("bad-canary")
    w.set_green(10)
    clock.t += 300
    assert w.values(clock.t)["error_rate"]["green"] < 0.01
    w.set_green(50)
    clock.t += 60
    v = w.values(clock.t)["error_rate"]
    assert v["green"] > 0.05 and v["blue"] < 0.01
    assert abs(v["all"] - (v["blue"] + v["green"]) / 2) < 1e-9


def test_slow_canary_raises_p95():
    w, clock = world("slow-canary")
    w.set_green(10)
    clock.t += 200
    p95 = w.values(clock.t)["latency_p95"]
    assert p95["green"] > 2 * p95["blue"]


def test_flapping_spikes_are_brief():
    w, _ = world("flapping")
    w.set_green(10)
    high = [w.values(w.started + t)["error_rate"]["green"] > 0.03 for t in range(0, 180)]
    assert 0 < sum(high) <= 20  # spikes exist, and are short
    run, longest = 0, 0
    for h in high:
        run = run + 1 if h else 0
        longest = max(longest, run)
    assert longest < 10


async def test_backends_share_one_world_and_read_back():
    clock = FakeClock()
    ctx = BackendContext(clock=clock)
    traffic = SimulatedTraffic(SimulatedTraffic.Config(type="simulated", delay=0), ctx)
    metrics = SimulatedMetrics(SimulatedMetrics.Config(type="simulated"), ctx)
    split = await traffic.shift(30)
    assert (split.green, split.blue) == (30, 70)
    sample = (await metrics.sample({"rps": "rps", "x": "nope"}))
    assert set(sample["rps"].series) == {"blue", "green"}
    assert "no metric" in sample["x"].reason
    assert (await traffic.rollback()).green == 0


async def test_logs_come_in_batches():
    clock = FakeClock()
    logs = SimulatedLogs(SimulatedLogs.Config(type="simulated", lines_per_tick=50), BackendContext(clock=clock))
    it = logs.lines()
    batch = await it.__anext__()
    assert len(batch) == 50 and all(line.source.startswith("app-") for line in batch)


async def test_history_is_the_past_on_blue_only_and_off_by_default():
    clock = FakeClock()
    ctx = BackendContext(clock=clock)
    queries = {"error_rate": "error_rate", "rps": "rps"}
    assert await SimulatedMetrics(SimulatedMetrics.Config(type="simulated"), ctx).backfill(
        queries, clock.t - 600, clock.t, 5) == {}
    ctx = BackendContext(clock=clock)
    metrics = SimulatedMetrics(SimulatedMetrics.Config(type="simulated", history=True), ctx)
    SimulatedTraffic(SimulatedTraffic.Config(type="simulated"), ctx)
    metrics.world.set_green(50)  # the run has moved traffic since: the past still had none on green
    start = metrics.world.started
    hist = await metrics.backfill(queries, start - 600, start + 60, 5)
    assert [s.ts for s in hist["rps"]] == [start - 600 + 5 * k for k in range(120)]  # nothing from the run
    assert all(set(s.series) == {"blue"} and s.value == s.series["blue"] for s in hist["error_rate"])
    assert all(900 < s.value < 1500 for s in hist["rps"])  # 1200 ± 150 swing ± noise: the live world
    assert await metrics.backfill(queries, start - 600, start, 0) == {}  # no endless loop on a zero interval
    SimulatedTraffic(SimulatedTraffic.Config(type="simulated"), ctx).restore(50)  # a resumed run
    assert await metrics.backfill(queries, start - 600, start, 5) == {}  # its past is in the journal
