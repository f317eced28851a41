"""Schedules that fit a time budget: the allotment, the timing of first steps, and a budgeted study."""

from __future__ import annotations

import dataclasses
import json

import pytest

from genre.budget import (
    Job,
    NetCost,
    Planner,
    StepTimes,
    allot_epochs,
    batches_of,
    net_cost,
    time_first_steps,
)
from genre.study import StudyConfig, run_study
from genre.train.config import apply_overrides
from genre.train.fit import default_config
from tests.train.conftest import TINY


def _jobs():
    return [
        Job("slow", NetCost(fixed=10.0, epoch=20.0), min_epochs=2, max_epochs=10),
        Job("fast", NetCost(fixed=5.0, epoch=2.0), min_epochs=2, max_epochs=4),
        Job("tuned", NetCost(fixed=1.0, epoch=1.0), min_epochs=2, max_epochs=5, runs=4),
    ]


def test_allotment_fits_the_budget_and_respects_every_cap():
    jobs = _jobs()
    schedule = allot_epochs(jobs, 200.0)
    epochs = {j.name: j.epochs for j in schedule.jobs}
    planned = sum(job.seconds(epochs[job.name]) for job in jobs)
    assert schedule.fits and planned <= 200.0
    assert epochs["fast"] == 4 and epochs["tuned"] == 5  # cheap jobs reach their caps
    # The slow net gets every epoch that still fits: one more would exceed the budget.
    assert planned + 20.0 > 200.0 and 2 < epochs["slow"] < 10
    assert {j.name: j.planned_seconds for j in schedule.jobs}["tuned"] == 4 * (1.0 + 5 * 1.0)
    assert "cap of 4 epochs" in {j.name: j.reason for j in schedule.jobs}["fast"]


def test_a_longer_budget_never_gives_fewer_epochs():
    jobs = _jobs()
    previous = None
    for seconds in (60.0, 120.0, 200.0, 400.0, 10_000.0):
        epochs = {j.name: j.epochs for j in allot_epochs(jobs, seconds).jobs}
        if previous is not None:
            assert all(epochs[n] >= previous[n] for n in epochs)
        previous = epochs
    assert previous == {"slow": 10, "fast": 4, "tuned": 5}


def test_too_short_a_budget_gives_each_job_its_minimum_and_says_so():
    schedule = allot_epochs(_jobs(), 30.0)
    assert not schedule.fits
    assert all(j.epochs == j.min_epochs for j in schedule.jobs)
    assert all("too short" in j.reason for j in schedule.jobs)
    assert "too short on this machine" in schedule.summary()


def test_an_optional_job_is_left_out_when_its_minimum_does_not_fit():
    net = Job("net", NetCost(fixed=0.0, epoch=10.0), min_epochs=2, max_epochs=10)
    tuning = Job("tune-net", NetCost(fixed=0.0, epoch=10.0), min_epochs=2, max_epochs=5, runs=4, optional=True)
    # The net's minimum takes 20 s, the tuning study's 4 runs of 2 epochs 80 s: 90 s cannot pay both.
    left_out = {j.name: j for j in allot_epochs([net, tuning], 90.0).jobs}
    assert left_out["tune-net"].epochs == 0 and left_out["tune-net"].reason.startswith("left out")
    assert left_out["net"].epochs == 9  # the time the study would have taken goes to the required job
    assert allot_epochs([net, tuning], 90.0).fits  # leaving an optional job out is not a shortfall
    # The study comes only after the net has its cap (100 s): at 105 s it is left out, not the net cut to 2.
    assert {j.name: j.epochs for j in allot_epochs([net, tuning], 105.0).jobs} == {"net": 10, "tune-net": 0}
    assert {j.name: j.epochs for j in allot_epochs([net, tuning], 180.0).jobs} == {"net": 10, "tune-net": 2}


def test_every_net_reaches_its_cap_before_a_tuning_study_gets_an_epoch():
    slow = Job("slow", NetCost(fixed=0.0, epoch=20.0), min_epochs=2, max_epochs=6)
    fast = Job("fast", NetCost(fixed=0.0, epoch=1.0), min_epochs=2, max_epochs=20)
    tuning = Job("tune-fast", NetCost(fixed=0.0, epoch=1.0), min_epochs=2, max_epochs=5, runs=4, optional=True)
    for seconds in (100.0, 120.0, 139.0):  # below the nets' caps (140 s): the study is left out
        epochs = {j.name: j.epochs for j in allot_epochs([slow, fast, tuning], seconds).jobs}
        assert epochs["tune-fast"] == 0 and (epochs["slow"], epochs["fast"]) != (6, 20)
    # At the caps and 8 s more the study gets its minimum (4 runs of 2 epochs), then grows with what is left.
    assert {j.name: j.epochs for j in allot_epochs([slow, fast, tuning], 148.0).jobs} == {
        "slow": 6,
        "fast": 20,
        "tune-fast": 2,
    }
    assert {j.name: j.epochs for j in allot_epochs([slow, fast, tuning], 156.0).jobs}["tune-fast"] == 4


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_planner_allots_each_net_from_the_time_left_and_corrects_for_a_slower_machine(tmp_path):
    jobs = [Job(n, NetCost(fixed=0.0, epoch=10.0), min_epochs=1, max_epochs=10) for n in ("a", "b")]
    clock = Clock()
    planner = Planner(jobs, budget_seconds=100.0, left_seconds=100.0, path=tmp_path / "schedule.json", clock=clock)
    assert planner.epochs("a") == 5  # half of the 10 epochs that fit, the other half kept for b
    clock.now = 100.0  # a took twice its plan: b is planned on doubled costs in the time that is left
    planner.finished("a", 100.0)
    assert planner.slowdown == 2.0
    clock.now = 60.0  # as if a had ended at 60 s: 40 s left, at 20 s an epoch
    assert planner.epochs("b") == 2
    assert planner.epochs("a") == 5  # allotted once, kept
    # A resumed study reads the allotments back: its runs keep their epochs, whatever time is left now.
    again = Planner(jobs, budget_seconds=100.0, left_seconds=1.0, path=tmp_path / "schedule.json", clock=clock)
    assert again.epochs("a") == 5 and again.epochs("b") == 2 and again.slowdown == 2.0
    schedule = again.schedule()
    assert [j.name for j in schedule.jobs] == ["a", "b"] and schedule.took == {"a": 100.0}


def test_a_net_faster_than_planned_leaves_its_saved_time_to_the_next_without_cheapening_it(tmp_path):
    jobs = [Job(n, NetCost(fixed=0.0, epoch=10.0), min_epochs=1, max_epochs=10) for n in ("a", "b")]
    clock = Clock()
    planner = Planner(jobs, budget_seconds=100.0, left_seconds=100.0, path=tmp_path / "schedule.json", clock=clock)
    assert planner.epochs("a") == 5
    clock.now = 25.0  # a took half its plan: the 75 s left pay b's 7 epochs at its measured cost, not 15
    planner.finished("a", 25.0)
    assert planner.slowdown == 1.0 and planner.epochs("b") == 7


def test_the_planner_leaves_out_an_optional_job_whose_minimum_no_longer_fits(tmp_path):
    net = Job("net", NetCost(fixed=0.0, epoch=10.0), min_epochs=2, max_epochs=10)
    tuning = Job("tune-net", NetCost(fixed=0.0, epoch=10.0), min_epochs=2, max_epochs=2, runs=4, optional=True)
    clock = Clock()
    planner = Planner([net, tuning], budget_seconds=200.0, left_seconds=200.0, path=tmp_path / "s.json", clock=clock)
    assert planner.epochs("net") == 10  # 100 s, and the study's minimum of 80 s still fits after it
    clock.now = 150.0  # the net took longer: 50 s left cannot pay the study's 80 s
    planner.finished("net", 150.0)
    assert planner.epochs("tune-net") == 0
    assert planner.allotted["tune-net"].reason.startswith("left out") and planner.schedule().fits


def test_cost_counts_compilation_once_and_every_batch_of_an_epoch():
    times = StepTimes(build=1.0, first_train=5.0, train_step=0.5, first_eval=2.0, eval_step=0.1)
    cost = net_cost(times, {"train": 10, "validation": 3, "scoring": 6}, bn_update_batches=32)
    # An epoch: 10 training steps, 3 validation batches and the batch-norm update's 10 (all the data).
    assert cost.epoch == pytest.approx(10 * 0.5 + (3 + 10) * 0.1)
    # Once: building, both compilations (inference twice: validation and scoring), the final scoring.
    assert cost.fixed == pytest.approx(1.0 + 4.5 + 2 * 1.9 + 6 * 0.1)
    assert cost.seconds(3) == pytest.approx(cost.fixed + 3 * cost.epoch)
    # Every batch norm frozen: the update runs no forward pass, and costs nothing.
    frozen = dataclasses.replace(times, batch_norm_update=False)
    assert net_cost(frozen, {"train": 10, "validation": 3, "scoring": 6}, 32).epoch == pytest.approx(10 * 0.5 + 3 * 0.1)


def test_first_steps_are_timed_on_the_real_data(prepared):
    config = apply_overrides(default_config("conv1d"), {**TINY, "data": str(prepared)})
    times = time_first_steps(config)
    assert times.build > 0 and times.train_step > 0 and times.eval_step > 0
    assert times.first_train > times.train_step  # the first step traces and compiles
    assert not times.batch_norm_update  # conv1d has no batch norm to recompute
    batches = batches_of(config)
    assert batches["train"] >= 1 and batches["validation"] >= 1 and batches["scoring"] >= 2


@pytest.mark.parametrize("frozen", [True, False])
def test_a_frozen_base_under_a_dense_head_pays_no_batch_norm_update(musicnn_prepared, frozen):
    # musicnn with random weights: frozen as the pretrained base is (its head has no batch norm),
    # or trained from scratch, batch norms included.
    settings = {"data": str(musicnn_prepared), "weights": "none", "freeze_base": str(frozen).lower()}
    config = apply_overrides(default_config("musicnn"), {**settings, "batch_size": "4", "progress": "false"})
    assert time_first_steps(config, steps=2).batch_norm_update is not frozen


def _budgeted_study(prepared, out, cap: int, seconds: float) -> StudyConfig:
    """A study of one baseline and a tiny conv1d capped at `cap` epochs, within `seconds`."""
    tiny = {"*": {**TINY, "max_epochs": str(cap)}}
    return StudyConfig(
        data=prepared,
        out=out,
        baselines=("nb",),
        embedding_baselines=(),
        nets=("conv1d",),
        net_settings=tiny,
        budget_seconds=seconds,
    )


@pytest.mark.slow
def test_a_budgeted_study_trains_the_allotted_epochs_and_reports_why(prepared, tmp_path):
    config = _budgeted_study(prepared, tmp_path, cap=3, seconds=3600.0)
    lines = []
    result = run_study(config, log=lines.append)
    planned = json.loads((tmp_path / "schedule.json").read_text())
    assert [j["name"] for j in planned["jobs"]] == ["conv1d"]
    assert planned["jobs"][0]["epochs"] == 3  # an hour affords the cap
    assert json.loads((tmp_path / "runs" / "conv1d" / "config.json").read_text())["trainer"]["max_epochs"] == 3
    assert any("of the 60.0 min budget left for the nets" in line for line in lines)
    assert "[2/2] conv1d: training 3 epochs ..." in lines
    report = result.report.markdown
    assert "Schedule (budget 60.0 min" in report and "| conv1d | 3 | 3 |" in report
    assert "cap of 3 epochs" in report
    assert 'id="schedule"' in result.report.html.read_text()
    assert planned["took"]["conv1d"] > 0

    # Interrupted before scoring, rerun with a budget too short for anything: the net resumes with the
    # epochs it began with, and its cost is not measured again.
    (tmp_path / "runs" / "conv1d" / "metrics.json").unlink()
    lines.clear()
    again = run_study(dataclasses.replace(config, budget_seconds=1.0), log=lines.append)
    assert "[2/2] conv1d: resuming 3 epochs ..." in lines
    assert again.schedule.epochs("conv1d") == 3
    assert json.loads((tmp_path / "runs" / "conv1d" / "metrics.json").read_text())["epochs"] == 3


@pytest.mark.slow
def test_a_budget_too_short_trains_the_minimum(prepared, tmp_path):
    config = _budgeted_study(prepared, tmp_path, cap=4, seconds=1.0)
    result = run_study(config, log=lambda line: None)
    assert result.schedule.epochs("conv1d") == 2 and not result.schedule.fits
    assert json.loads((tmp_path / "runs" / "conv1d" / "metrics.json").read_text())["epochs"] == 2
    assert "too short" in result.report.markdown
