"""Learning-rate schedules, clipping and the optimizers, by value; and the lr the trainer logs."""

import math

import pytest
import torch

from rnnlab.errors import UserError
from rnnlab.train.metrics import read_metrics
from rnnlab.train.optim import OptimConfig, Schedule, ScheduleConfig, clip_gradients, make_optimizer


def factors(steps, total, **config):
    schedule = Schedule(ScheduleConfig(**config))
    return [schedule.factor(step, step / total) for step in steps]


def test_linear_warmup_then_constant():
    assert factors(range(6), 100, name="constant", warmup=4) == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert factors([0, 50], 100, name="constant", warmup=0) == [1.0, 1.0]


def test_cosine_ends_at_the_floor_when_the_run_ends():
    total, floor = 1000, 0.05
    got = factors([0, 1, 9, 250, 500, 750, 1000], total, name="cosine", warmup=10, min_lr=floor)
    cosine = lambda p: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))  # noqa: E731
    expected = [0.1 * cosine(0.0), 0.2 * cosine(0.001), cosine(0.009), cosine(0.25), cosine(0.5),
                cosine(0.75), floor]
    assert got == pytest.approx(expected, rel=1e-15, abs=0)
    assert got[4] == pytest.approx((1 + floor) / 2, rel=1e-15)  # half-way: half-way between peak and floor
    # progress beyond the budget (a resumed run with a raised budget reads progress anew) stays at the floor
    assert Schedule(ScheduleConfig(name="cosine", warmup=0, min_lr=floor)).factor(5, 1.7) == floor


def test_step_exponential_and_inverse_time():
    assert factors([0, 9, 10, 19, 20, 35], 100, name="step", step_size=10, gamma=0.5) == [
        1.0, 1.0, 0.5, 0.5, 0.25, 0.125]
    assert factors([0, 5, 10, 30], 100, name="exponential", step_size=10, gamma=0.5) == pytest.approx(
        [1.0, 0.5**0.5, 0.5, 0.125], rel=1e-15)
    assert factors([0, 10, 1000], 100, name="inverse-time", k=0.01) == pytest.approx(
        [1.0, 1 / 1.1, 1 / 11.0], rel=1e-15)


def test_plateau_lowers_after_patience_evaluations_without_improvement():
    schedule = Schedule(ScheduleConfig(name="plateau", warmup=0, patience=2, gamma=0.5))
    scales = []
    for loss in [3.0, 2.0, 2.0, 1.99995, 2.5, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1]:
        schedule.observe(loss)
        scales.append(schedule.factor(0, 0.0))
    # 2.0, 1.99995 (an improvement below 1e-4 does not count), 2.5: three evaluations without
    # improvement, more than the patience of 2, so the scale halves; 1.5 is a new best; then
    # 1.6 1.7 1.8 halve again, and the count restarts: 1.9 2.0 2.1 halve once more
    assert scales == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    state = schedule.state_dict()
    again = Schedule(ScheduleConfig(name="plateau", warmup=0, patience=2, gamma=0.5))
    again.load_state_dict(state)
    assert again.state_dict() == state == {"plateau_scale": 0.125, "best": 1.5, "bad_evals": 0}


def test_only_plateau_listens_to_the_validation_loss():
    schedule = Schedule(ScheduleConfig(name="cosine", warmup=0, patience=0))
    for loss in [1.0, 2.0, 3.0, 4.0]:
        schedule.observe(loss)
    assert schedule.factor(0, 0.0) == 1.0 and schedule.state_dict()["plateau_scale"] == 1.0


def test_plateau_keeps_the_warmup():
    schedule = Schedule(ScheduleConfig(name="plateau", warmup=4, patience=0, gamma=0.5))
    schedule.observe(1.0)
    schedule.observe(1.0)
    assert schedule.factor(1, 0.0) == 0.5 * 0.5


@pytest.mark.parametrize("bad", [{"name": "linear"}, {"warmup": -1}, {"gamma": 0}, {"gamma": 1.5},
                                 {"min_lr": 2}, {"step_size": 0}, {"k": -1}, {"patience": -1}])
def test_bad_schedules_are_user_errors(bad):
    with pytest.raises(UserError, match="schedule"):
        ScheduleConfig(**bad)


# ---- clipping ---------------------------------------------------------------------------------------


def with_grads(*grads):
    params = [torch.nn.Parameter(torch.zeros(len(g))) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g, dtype=torch.float32)
    return params


def test_clipping_by_global_norm_keeps_the_direction():
    params = with_grads([3.0, 0.0], [0.0, 4.0])  # global norm 5
    assert clip_gradients(params, 1.0) == pytest.approx(5.0, rel=1e-7)  # the norm before clipping
    assert torch.allclose(params[0].grad, torch.tensor([0.6, 0.0]), rtol=1e-6, atol=0)
    assert torch.allclose(params[1].grad, torch.tensor([0.0, 0.8]), rtol=1e-6, atol=0)


def test_no_clipping_below_the_threshold_or_without_one():
    for threshold in (5.5, None):
        params = with_grads([3.0, 0.0], [0.0, 4.0])
        assert clip_gradients(params, threshold) == pytest.approx(5.0, rel=1e-7)
        assert params[0].grad.tolist() == [3.0, 0.0] and params[1].grad.tolist() == [0.0, 4.0]


def test_clipping_by_value_comes_before_the_norm():
    params = with_grads([3.0, -0.5], [0.0, 4.0])
    norm = clip_gradients(params, 100.0, max_value=1.0)  # values clipped to [-1, 1]: (1, -0.5), (0, 1)
    assert norm == pytest.approx(math.sqrt(1 + 0.25 + 1), rel=1e-7)
    assert params[0].grad.tolist() == [1.0, -0.5] and params[1].grad.tolist() == [0.0, 1.0]


def test_parameters_without_gradients_are_skipped():
    params = with_grads([3.0, 4.0]) + [torch.nn.Parameter(torch.ones(2))]
    assert clip_gradients(params, 1.0) == pytest.approx(5.0, rel=1e-7)
    assert params[1].grad is None


# ---- the optimizers by the course's names ---------------------------------------------------------


def one_step(name, grad=(1.0, -2.0), **config):
    p = torch.nn.Parameter(torch.tensor([0.5, 0.5], dtype=torch.float64))
    optimizer = make_optimizer([p], OptimConfig(name=name, lr=0.1, **config))
    for _ in range(2):
        p.grad = torch.tensor(grad, dtype=torch.float64)
        optimizer.step()
    return p.detach().tolist()


def test_each_optimizer_is_the_update_rule_of_its_name():
    g = torch.tensor([1.0, -2.0], dtype=torch.float64)
    x0 = torch.tensor([0.5, 0.5], dtype=torch.float64)
    lr, mu = 0.1, 0.9
    expected = {
        "sgd": x0 - 2 * lr * g,
        "momentum": x0 - lr * g - lr * (mu * g + g),  # v1 = g, v2 = μ v1 + g
        "nesterov": x0 - lr * (g + mu * g) - lr * (g + mu * (mu * g + g)),
        "adagrad": x0 - lr * g / (g.abs() + 1e-8) - lr * g / (torch.sqrt(2 * g**2) + 1e-8),
    }
    for name, want in expected.items():
        assert one_step(name) == pytest.approx(want.tolist(), rel=1e-12), name
    # Adam's first two steps on a constant gradient move by lr each (the bias-corrected m/√v is ±1)
    assert one_step("adam", eps=1e-12) == pytest.approx((x0 - 2 * lr * g.sign()).tolist(), rel=1e-9)
    # AdamW's decay is decoupled: x ← x(1 − lr·wd) before the Adam step; Adam's is an L2 gradient term
    adamw = one_step("adamw", grad=(0.0, 0.0), weight_decay=0.5, eps=1e-12)
    assert adamw == pytest.approx([0.5 * (1 - 0.05) ** 2] * 2, rel=1e-12)
    assert one_step("adam", grad=(0.0, 0.0), weight_decay=0.5, eps=1e-12) != adamw
    rms = torch.tensor(0.0, dtype=torch.float64)
    x = x0.clone()
    for _ in range(2):
        rms = 0.99 * rms + 0.01 * g**2
        x = x - lr * g / (rms.sqrt() + 1e-8)
    assert one_step("rmsprop") == pytest.approx(x.tolist(), rel=1e-12)


# ---- what the trainer does with them: the logged lr -------------------------------------------------

TINY = ["--hidden", "16", "--layers", "1", "--embedding", "8", "--batch-size", "4", "--seq-len", "16",
        "--no-progress", "--threads", "1", "--set", "train.log_every=1"]


def logged(run, key="lr"):
    return {e["step"]: e[key] for e in read_metrics(run) if e["split"] == "train"}


def test_the_trainer_logs_warmup_then_cosine_to_the_floor_at_the_last_step(cli, tiny_text, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("train", "lm", "--data", tiny_text, "--out", run, "--steps", 40, "--lr", "0.02",
                       "--set", "schedule.warmup=8", "--set", "schedule.min_lr=0.1", *TINY)
    assert code == 0, err
    lr = logged(run)
    schedule = Schedule(ScheduleConfig(name="cosine", warmup=8, min_lr=0.1))
    # the event of step s reports the lr its update used: the schedule at step s − 1 of 40
    assert lr == {s: pytest.approx(0.02 * schedule.factor(s - 1, (s - 1) / 40), rel=1e-12) for s in lr}
    assert lr[1] == pytest.approx(0.02 / 8) and lr[8] == pytest.approx(0.02 * schedule.factor(7, 7 / 40))
    assert lr[40] == pytest.approx(0.02 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 39 / 40))), rel=1e-12)
    # resumed with a raised budget, cosine stretches to end with the new budget
    code, _, err = cli("train", "lm", "--data", tiny_text, "--out", run, "--steps", 60, "--lr", "0.02",
                       "--set", "schedule.warmup=8", "--set", "schedule.min_lr=0.1", *TINY, "--resume")
    assert code == 0, err
    lr = logged(run)
    assert lr[60] == pytest.approx(0.02 * schedule.factor(59, 59 / 60), rel=1e-12)


def test_the_trainer_halves_the_lr_on_a_validation_plateau(cli, tiny_text, tmp_path):
    # a learning rate so small that the validation loss cannot improve by 1e-4: every evaluation after
    # the first is a plateau, and with patience 0 each one halves the rate
    run = tmp_path / "run"
    code, _, err = cli("train", "lm", "--data", tiny_text, "--out", run, "--steps", 12, "--lr", "1e-9",
                       "--schedule", "plateau", "--set", "schedule.warmup=0", "--set", "schedule.patience=0",
                       "--eval-every", 4, *TINY)
    assert code == 0, err
    lr = logged(run)
    assert [lr[s] for s in (1, 4, 5, 8, 9, 12)] == pytest.approx([1e-9, 1e-9, 1e-9, 1e-9, 0.5e-9, 0.5e-9],
                                                                 rel=1e-12)
    # eval at 4 sets the best; eval at 8 is the first without improvement and halves the lr of steps 9–12


def test_plateau_starts_clean_and_needs_more_than_1e4():
    schedule = Schedule(ScheduleConfig(name="plateau", warmup=0, patience=0, gamma=0.5))
    assert schedule.state_dict() == {"plateau_scale": 1.0, "best": math.inf, "bad_evals": 0}
    schedule.observe(1.0)
    schedule.observe(1.0 - 1e-4)  # exactly 1e-4 better: not an improvement
    assert schedule.factor(0, 0.0) == 0.5 and schedule.best == 1.0


@pytest.mark.parametrize("values,message", [
    ({"name": "lbfgs"}, "optim.name 'lbfgs' is unknown; choose one of sgd, momentum, nesterov, adagrad, "
                        "rmsprop, adam, adamw."),
    ({"lr": 0.0}, "optim.lr must be greater than 0 (got 0.0)."),
    ({"weight_decay": -0.1}, "optim.weight_decay must be ≥ 0 and optim.momentum in [0, 1)."),
    ({"momentum": 1.0}, "optim.weight_decay must be ≥ 0 and optim.momentum in [0, 1)."),
    ({"momentum": -0.1}, "optim.weight_decay must be ≥ 0 and optim.momentum in [0, 1)."),
    ({"beta1": 1.0}, "optim.beta1 and optim.beta2 must be in [0, 1) and optim.eps > 0."),
    ({"beta2": 1.0}, "optim.beta1 and optim.beta2 must be in [0, 1) and optim.eps > 0."),
    ({"beta1": -0.5}, "optim.beta1 and optim.beta2 must be in [0, 1) and optim.eps > 0."),
    ({"eps": 0.0}, "optim.beta1 and optim.beta2 must be in [0, 1) and optim.eps > 0."),
])
def test_bad_optimizer_settings_say_which_and_why(values, message):
    with pytest.raises(UserError) as error:
        OptimConfig(**values)
    assert str(error.value) == message


def test_optimizer_settings_at_their_edges_are_accepted():
    OptimConfig(momentum=0.0, beta1=0.0, beta2=0.0, weight_decay=0.0, lr=1e-12)
    ScheduleConfig(step_size=1, gamma=1.0, min_lr=0.0, k=0.0, warmup=0, patience=0)
    ScheduleConfig(min_lr=1.0)


@pytest.mark.parametrize("values,message", [
    ({"name": "linear"}, "schedule.name 'linear' is unknown; choose one of constant, step, exponential, "
                         "inverse-time, cosine, plateau."),
    ({"step_size": 0}, "schedule.warmup and schedule.patience must be ≥ 0, schedule.step_size ≥ 1."),
    ({"gamma": 1.01}, "schedule.gamma must be in (0, 1], schedule.min_lr in [0, 1], schedule.k ≥ 0."),
    ({"min_lr": -0.01}, "schedule.gamma must be in (0, 1], schedule.min_lr in [0, 1], schedule.k ≥ 0."),
])
def test_bad_schedule_settings_say_which_and_why(values, message):
    with pytest.raises(UserError) as error:
        ScheduleConfig(**values)
    assert str(error.value) == message


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_every_setting_reaches_the_torch_optimizer(name):
    config = OptimConfig(name=name, lr=0.02, momentum=0.8, beta1=0.7, beta2=0.95, eps=1e-6, weight_decay=0.01)
    group = make_optimizer([torch.nn.Parameter(torch.zeros(2))], config).param_groups[0]
    assert group["lr"] == 0.02 and group["weight_decay"] == 0.01
    expected = {"momentum": {"momentum": 0.8, "nesterov": False},
                "nesterov": {"momentum": 0.8, "nesterov": True},
                "adagrad": {"eps": 1e-6}, "rmsprop": {"eps": 1e-6, "alpha": 0.99, "momentum": 0},
                "adam": {"betas": (0.7, 0.95), "eps": 1e-6}, "adamw": {"betas": (0.7, 0.95), "eps": 1e-6}}
    for key, value in expected.get(name, {"momentum": 0}).items():
        assert group[key] == value, key
