"""`rnnlab diagnose`: the notes' readings of loss curves, on synthetic metrics files."""

import json
import math

import pytest

from rnnlab.diagnostics.diagnose import diagnose, diagnose_run


def events(train, val=(), every=10):
    """metrics.jsonl events: train losses every `every` steps, val losses at the same spacing × 5."""
    out = [{"step": (i + 1) * every, "split": "train", "loss": v, "lr": 1e-3} for i, v in enumerate(train)]
    out += [{"step": (i + 1) * every * 5, "split": "val", "loss": v} for i, v in enumerate(val)]
    return sorted(out, key=lambda e: e["step"])


def write(tmp_path, evs):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evs), encoding="utf-8")
    return run


def verdicts(findings):
    return [f.verdict for f in findings]


def test_nan_loss_is_exploding():
    (finding,) = diagnose(events([2.3, 2.0, 5.0, 40.0, math.nan]))
    assert finding.verdict == "exploding" and "too high" in finding.advice
    assert finding.evidence["non_finite_at_step"] == 50


def test_loss_above_three_times_the_first_is_exploding():
    (finding,) = diagnose(events([2.3, 2.1, 1.9, 4.0, 7.5, 9.0]))
    assert finding.verdict == "exploding"
    assert finding.evidence["max_loss"] == 9.0 and finding.evidence["first_loss"] == 2.3


def test_flat_loss_means_learning_rate_too_low():
    (finding,) = diagnose(events([2.303, 2.302, 2.303, 2.301, 2.300, 2.301, 2.299, 2.300]))
    assert finding.verdict == "flat" and "too low" in finding.advice
    assert finding.evidence["relative_drop"] < 0.01


def test_plateau_then_drop_means_bad_initialisation():
    train = [2.30] * 12 + [2.25, 1.8, 1.2, 0.8, 0.6, 0.5, 0.45, 0.42, 0.40, 0.40]
    findings = diagnose(events(train))
    assert verdicts(findings)[0] == "plateau-then-drop"
    assert "initialisation" in findings[0].advice
    assert findings[0].evidence["plateau_steps"] == 130 and findings[0].evidence["drop_at_step"] == 140


def test_a_steady_drop_is_not_a_plateau():
    train = [2.3 * 0.9**i for i in range(20)]
    assert "plateau-then-drop" not in verdicts(diagnose(events(train)))


def test_growing_gap_is_overfitting():
    train = [2.0 - 0.09 * i for i in range(20)]  # 2.0 -> 0.29, still falling
    val = [1.7, 1.3, 1.4, 1.6]  # best at step 100, then rising
    findings = diagnose(events(train, val))
    (finding,) = [f for f in findings if f.verdict == "overfitting"]
    assert "regularisation" in finding.advice
    assert finding.evidence["val_best_step"] == 100
    assert finding.evidence["gap_last"] > finding.evidence["gap_first"] + 0.5


def test_no_gap_is_underfitting():
    train = [2.0, 1.8, 1.7, 1.65, 1.62, 1.60, 1.59, 1.585, 1.58, 1.58]
    val = [1.62, 1.58]
    findings = diagnose(events(train, val))
    (finding,) = [f for f in findings if f.verdict == "underfitting"]
    assert "capacity" in finding.advice and abs(finding.evidence["gap_last"]) < 0.03


def test_small_steady_gap_is_healthy():
    train = [2.0 - 0.05 * i for i in range(20)]
    val = [t + 0.1 for t in (train[4], train[9], train[14], train[19])]
    assert verdicts(diagnose(events(train, val))) == ["healthy"]


def test_too_few_events():
    assert verdicts(diagnose(events([2.3, 2.2]))) == ["too-short"]


def test_command_prints_verdicts_with_numbers(cli, tmp_path):
    run = write(tmp_path, events([2.3, 2.0, 5.0, 40.0, math.nan]))
    code, out, _ = cli("diagnose", run)
    assert code == 0
    assert "[exploding]" in out and "non_finite_at_step=50" in out
    code, out, _ = cli("diagnose", run, "--json")
    assert json.loads(out)["findings"][0]["verdict"] == "exploding"
    assert diagnose_run(run / "metrics.jsonl")[0].verdict == "exploding"


def test_missing_run_is_a_one_line_error(cli, tmp_path):
    code, _, err = cli("diagnose", tmp_path / "nowhere")
    assert code == 2 and err.startswith("error:") and "Traceback" not in err


@pytest.mark.parametrize("line", ['{"step": 1, "split": "train", "loss": NaN}\n'])
def test_nan_written_by_the_training_log_is_read(tmp_path, line):
    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events([2.3, 2.2, 2.0])) + line)
    assert diagnose_run(run)[0].verdict == "exploding"
