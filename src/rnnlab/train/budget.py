"""The limits of a training run and the clocks that measure them: steps, wall-clock and CPU minutes.

Every training loop stops at whichever limit comes first, and its learning-rate schedule follows the
fraction of the budget spent (`progress`). The clocks resume: a checkpoint stores the wall and CPU
seconds already spent (`run["elapsed"]`, `run["cpu"]`) and a resumed run starts counting from there.

CPU time is this process's, all threads counted (`time.process_time`): on a shared machine it does
not shrink when other jobs take the cores, as wall-clock minutes do.
"""

from __future__ import annotations

import time

#: every value of `Budget.stop_reason`, in a fixed order (DDP broadcasts rank 0's as an index)
STOP_REASONS = (None, "done", "time budget reached", "CPU-time budget reached")


class Budget:
    """Steps, wall-clock minutes and CPU minutes (each optional), with clocks started now.

        budget = Budget(steps=None, minutes=10, cpu_minutes=None, elapsed=run["elapsed"])
        while (reason := budget.stop_reason(step)) is None:
            lr = peak * schedule(step, budget.progress(step))
            ...
    """

    def __init__(
        self,
        steps: int | None,
        minutes: float | None,
        cpu_minutes: float | None = None,
        *,
        elapsed: float = 0.0,
        cpu: float = 0.0,
    ) -> None:
        self.steps = steps or None
        self.wall_s = minutes * 60 if minutes else None
        self.cpu_s = cpu_minutes * 60 if cpu_minutes else None
        self._wall_start = time.perf_counter() - elapsed
        self._cpu_start = time.process_time() - cpu

    def wall(self) -> float:
        """Wall-clock seconds spent, earlier sessions of the run included."""
        return time.perf_counter() - self._wall_start

    def cpu(self) -> float:
        """CPU seconds spent by this process (all threads), earlier sessions included."""
        return time.process_time() - self._cpu_start

    @property
    def timed(self) -> bool:
        """True when a clock (not a step count) may end the run."""
        return self.wall_s is not None or self.cpu_s is not None

    def progress(self, step: int) -> float:
        """The fraction of the budget spent: the largest of steps, wall and CPU time."""
        return max(
            step / self.steps if self.steps else 0.0,
            self.wall() / self.wall_s if self.wall_s else 0.0,
            self.cpu() / self.cpu_s if self.cpu_s else 0.0,
        )

    def stop_reason(self, step: int) -> str | None:
        """Why the run ends before step `step + 1`, or None while it goes on."""
        if self.steps and step >= self.steps:
            return "done"
        if self.wall_s and self.wall() >= self.wall_s:
            return "time budget reached"
        if self.cpu_s and self.cpu() >= self.cpu_s:
            return "CPU-time budget reached"
        return None


__all__ = ["STOP_REASONS", "Budget"]
