"""The training budget: steps, wall-clock and CPU minutes, whichever comes first; resumable clocks."""

import time

from rnnlab.train.budget import Budget


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_steps_end_the_run_and_set_the_progress():
    budget = Budget(steps=10, minutes=None)
    assert not budget.timed
    assert budget.stop_reason(9) is None and budget.stop_reason(10) == "done"
    assert budget.progress(5) == 0.5


def test_cpu_minutes_count_this_process_and_resume_from_spent_seconds():
    budget = Budget(steps=None, minutes=None, cpu_minutes=0.002)  # 0.12 s
    assert budget.timed and budget.stop_reason(0) is None
    _burn(0.15)
    assert budget.stop_reason(0) == "CPU-time budget reached"
    assert budget.progress(0) >= 1.0
    resumed = Budget(steps=None, minutes=None, cpu_minutes=1.0, cpu=30.0)
    assert 0.5 <= resumed.progress(0) < 0.6 and resumed.cpu() >= 30.0


def test_the_largest_fraction_decides_and_sleep_costs_no_cpu():
    budget = Budget(steps=100, minutes=0.001, cpu_minutes=10.0)  # 0.06 s of wall clock
    time.sleep(0.08)
    assert budget.stop_reason(1) == "time budget reached"
    assert budget.progress(1) >= 1.0 and budget.cpu() < 0.06
    assert Budget(steps=100, minutes=None, elapsed=5.0).wall() >= 5.0
