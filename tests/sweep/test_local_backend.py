"""The local backend on real Optuna storages (SQLite and journal files): W&B semantics, grid and run cap across
agents, heartbeats. Trials are claimed and finished here without running training (the agent tests run it)."""

import math
import time

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from snpdiff.sweep.backends.local import LocalBackend, decode, optuna_distribution
from snpdiff.sweep.spec import load_sweep
from snpdiff.sweep.store import sweeps_root


def make_sweep(parameters, method="random", storage=None, **top):
    spec = load_sweep({"method": method, "metric": {"name": "val_loss", "goal": top.pop("goal", "minimize")},
                       "parameters": parameters, **top})
    root = sweeps_root()
    info = LocalBackend.create(spec, root, storage=storage)
    info.save(spec, root)
    return info


def test_each_distribution_maps_to_optuna_with_the_same_bounds_and_scale():
    spec = load_sweep({"method": "random", "parameters": {
        "a": {"distribution": "int_uniform", "min": 2, "max": 9},
        "b": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "c": {"distribution": "log_uniform", "min": -3.0, "max": 1.0},
        "d": {"distribution": "uniform", "min": -1.0, "max": 1.0},
        "e": {"values": [[1, 2], [1, 2, 4]]},
        "f": {"values": [1, 2.5, "x", None, True]},
        "g": {"distribution": "normal", "mu": 5.0, "sigma": 2.0},
    }})
    p = spec.parameters
    assert optuna_distribution(p["a"]) == IntDistribution(2, 9)
    assert optuna_distribution(p["b"]) == FloatDistribution(1e-4, 1e-1, log=True)
    c = optuna_distribution(p["c"])
    assert c.log and c.low == pytest.approx(math.exp(-3)) and c.high == pytest.approx(math.exp(1))
    assert optuna_distribution(p["d"]) == FloatDistribution(-1.0, 1.0)
    assert optuna_distribution(p["e"]) == CategoricalDistribution(["[1, 2]", "[1, 2, 4]"])
    assert decode(p["e"], "[1, 2, 4]") == [1, 2, 4]
    assert optuna_distribution(p["f"]).choices == (1, 2.5, "x", None, True)
    assert decode(p["g"], 0.5) == pytest.approx(5.0)
    assert decode(p["g"], 0.8413447460685429) == pytest.approx(7.0)  # the +1 sigma quantile


def test_sampled_values_keep_their_types_and_bounds():
    info = make_sweep({"n": {"distribution": "int_uniform", "min": 1, "max": 3},
                       "rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                       "q": {"distribution": "q_uniform", "min": 0, "max": 64, "q": 16},
                       "mults": {"values": [[1, 2], [1, 2, 4]]}, "fixed": {"value": "x"}})
    backend = LocalBackend(info)
    seen = [backend.claim(60).params for _ in range(12)]
    for params in seen:
        assert isinstance(params["n"], int) and 1 <= params["n"] <= 3
        assert isinstance(params["rate"], float) and 1e-4 <= params["rate"] <= 1e-2
        assert params["q"] in (0, 16, 32, 48, 64) and isinstance(params["q"], int)
        assert params["mults"] in ([1, 2], [1, 2, 4]) and params["fixed"] == "x"
    assert len({p["rate"] for p in seen}) == 12  # random search: fresh values each time


def test_a_grid_is_shared_by_agents_without_duplicates_and_then_exhausted():
    info = make_sweep({"a": {"values": [1, 2]}, "b": {"values": ["x", "y"]}}, method="grid")
    agents = [LocalBackend(info) for _ in range(3)]  # three storage connections, as three processes would have
    claimed = []
    for turn in range(6):
        trial = agents[turn % 3].claim(60)
        if trial is not None:
            claimed.append(trial)
            agents[turn % 3].finish(trial, "finished", value=float(trial.number))
    assert [t.params for t in claimed] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"},
                                           {"a": 2, "b": "y"}]
    assert all(agent.claim(60) is None for agent in agents)
    assert len(agents[0].trials()) == 4 and agents[0].state() == "finished"


def test_trial_numbers_beyond_the_run_cap_are_discarded_not_run():
    info = make_sweep({"a": {"values": [1, 2, 3]}}, run_cap=2)
    first, second = LocalBackend(info), LocalBackend(info)
    a = first.claim(60)
    # second agent races: it counted 1 live trial, then the first agent takes number 1 before it asks
    b = first.claim(60)
    assert second.claim(60) is None
    assert (a.number, b.number) == (0, 1)
    assert [r.number for r in second.trials()] == [0, 1]  # the discarded trial is hidden


@pytest.fixture(params=["sqlite", "journal"])
def storage(request, tmp_path):
    """The default SQLite storage (Optuna's own heartbeats), or a journal file (``JournalHeartbeatStorage``)."""
    return None if request.param == "sqlite" else f"journal:{tmp_path / 'sweep.log'}"


def test_a_trial_whose_agent_stops_beating_is_failed_by_the_next_agent(storage):
    info = make_sweep({"a": {"values": [1, 2]}}, storage=storage)
    dead, alive = LocalBackend(info), LocalBackend(info)
    trial = dead.claim(heartbeat_interval_s=0.2)  # then this agent is "killed": no more heartbeats
    time.sleep(2.5)  # > 3 intervals, rounded up to whole seconds (SQLite's clock counts whole seconds)
    assert alive.claim(heartbeat_interval_s=60).number == 1  # its stale check fails trial 0 first
    record = alive.trials()[0]
    assert record.state == "failed" and "stopped sending heartbeats" in record.error
    assert dead.finish(trial, "finished", value=1.0) == "failed"  # a late result does not resurrect it


def test_a_slowly_beating_agents_live_trial_is_not_failed_by_a_faster_agent(storage):
    """Agents may beat at different intervals (--heartbeat-interval): a slow agent's live trial, silent for less than
    3 of its own intervals, is not failed by the check of an agent that beats faster."""
    info = make_sweep({"a": {"values": [1, 2]}}, storage=storage)
    slow, fast = LocalBackend(info), LocalBackend(info)
    slow.claim(heartbeat_interval_s=1.0)
    beating = fast.claim(heartbeat_interval_s=0.2)
    for _ in range(5):  # 2.5 s: more than 3 of the fast agent's intervals, fewer than 3 of the slow one's
        time.sleep(0.5)
        fast.heartbeat(beating)
    fast.fail_stale_trials()
    assert [r.state for r in fast.trials()] == ["running", "running"]


def test_goal_sets_the_direction_and_pruned_and_failed_trials_are_recorded():
    info = make_sweep({"a": {"values": [1, 2]}}, goal="maximize")
    backend = LocalBackend(info)
    assert backend.study.direction.name == "MAXIMIZE"
    ok, bad = backend.claim(60), backend.claim(60)
    backend.finish(ok, "finished", value=0.5)
    backend.finish(bad, "failed", error="exit code 1; boom")
    states = {r.number: (r.state, r.value, r.error) for r in backend.trials()}
    assert states == {0: ("finished", 0.5, None), 1: ("failed", None, "exit code 1; boom")}


def test_a_journal_file_storage_works_like_sqlite(tmp_path):
    info = make_sweep({"a": {"values": [1, 2]}}, method="grid", storage=f"journal:{tmp_path / 'sweep.log'}")
    backend = LocalBackend(info)
    assert (tmp_path / "sweep.log").is_file()
    assert [backend.claim(60).params["a"] for _ in range(2)] == [1, 2]
    assert backend.claim(60) is None
