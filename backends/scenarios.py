"""The simulator's scenarios by name: what `shipdeck demo --scenario` offers without importing the simulator."""

SCENARIOS: tuple[str, ...] = ("healthy", "bad-canary", "slow-canary", "flapping")
SCENARIO_OVERRIDE = "simulated.scenario"  # the shared key a demo's --scenario reaches the simulator through
