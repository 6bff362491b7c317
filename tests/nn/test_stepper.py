"""The generation Stepper: equal to the plain step (cells one by one) for every model shape."""

import pytest
import torch

from rnnlab.generate import generate
from rnnlab.models.language_model import LanguageModel, LanguageModelConfig
from rnnlab.nn import stepper as stepper_module
from rnnlab.nn.stepper import Stepper, reference_step, stepper_for

CELLS = ["lstm", "gru", "rnn-tanh", "rnn-relu", "lstm-peephole", "gru-cho"]
TOLERANCE = {torch.float32: dict(atol=1e-5, rtol=1e-5), torch.float64: dict(atol=1e-12, rtol=1e-12)}


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def _model(cell="lstm", dtype=torch.float32, **config):
    torch.manual_seed(0)
    config = dict(dict(hidden=16, layers=2, embedding=8), **config)
    model = LanguageModel(30, LanguageModelConfig(cell=cell, **config))
    with torch.no_grad():  # biases and peepholes away from their zero initialisation
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.to(dtype).eval()


def _states(s):
    return s if isinstance(s, tuple) else (s,)


def _assert_steps_match(model, stepper, batch_size, steps=6):
    """Feed the same tokens through both steps for a while; logits and states must agree."""
    tol = TOLERANCE[next(model.parameters()).dtype]
    tokens = torch.randint(0, 30, (batch_size,))
    ours = reference = None
    for _ in range(steps):
        before = None if ours is None else [s.clone() for s in _states(ours)]
        logits, new_ours = stepper.step(tokens, ours)
        if before is not None:  # the state handed in is never modified
            for a, b in zip(before, _states(ours), strict=True):
                assert torch.equal(a, b)
        expected, reference = reference_step(model, tokens, reference)
        torch.testing.assert_close(logits, expected, **tol)
        for a, b in zip(_states(new_ours), _states(reference), strict=True):
            torch.testing.assert_close(a, b, **tol)
        ours = new_ours
        tokens = expected.argmax(dim=-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cell", CELLS)
def test_stepper_equals_the_plain_step(cell, dtype):
    model = _model(cell, dtype)
    stepper = Stepper(model)
    for batch_size in (1, 5):  # batch 1: matrix-vector products; 5: oneDNN matmuls in float32
        _assert_steps_match(model, stepper, batch_size)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn-tanh"])
def test_without_the_lookup_table(cell, monkeypatch):
    """A word vocabulary too large for the layer-0 table: embedding, then [x, h] products."""
    monkeypatch.setattr(stepper_module, "TABLE_MAX_BYTES", 0)
    model = _model(cell)
    _assert_steps_match(model, Stepper(model), 3)


@pytest.mark.parametrize("config", [dict(head=[12]), dict(hidden=8, embedding=8, tie_weights=True),
                                    dict(output="adaptive", cutoffs=[10, 20])])
def test_heads_tied_weights_and_adaptive_output(config):
    model = _model("lstm", **config)
    _assert_steps_match(model, Stepper(model), 2)


def test_parameter_changes_are_picked_up():
    model = _model("gru")
    stepper = Stepper(model)
    _assert_steps_match(model, stepper, 2)
    with torch.no_grad():
        model.rnn.cells[1].weight_hh.mul_(-1.5)  # as an optimizer step would, in place
        model.decoder.bias.add_(1.0)
    _assert_steps_match(model, stepper, 2)
    model.double()  # new tensors altogether
    _assert_steps_match(model, stepper, 2)


def test_language_model_step_uses_the_cached_stepper():
    model = _model("lstm")
    assert stepper_for(model) is stepper_for(model)
    tokens = torch.tensor([1, 2])
    logits, state = model.step(tokens)
    expected, expected_state = reference_step(model, tokens)
    torch.testing.assert_close(logits, expected, **TOLERANCE[torch.float32])
    # generation through the model gives the same text as through the plain step
    class Plain:
        init_state = model.init_state

        def step(self, tokens, state):
            return reference_step(model, tokens, state)

    for batch_size in (1, 3):
        ours = list(generate(model, [1, 2], 20, seed=3, batch_size=batch_size))
        plain = list(generate(Plain(), [1, 2], 20, seed=3, batch_size=batch_size))
        assert [torch.as_tensor(t).tolist() for t in ours] == [torch.as_tensor(t).tolist() for t in plain]


@pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="no bfloat16 on this CPU")
def test_bfloat16_weights_stay_close():
    model = _model("lstm")
    stepper = Stepper(model, bf16=True)
    assert stepper.bf16
    tokens = torch.tensor([4, 7, 9])
    state = expected_state = None
    for _ in range(4):
        logits, state = stepper.step(tokens, state)
        expected, expected_state = reference_step(model, tokens, expected_state)
        # bfloat16 keeps about three significant digits of each product: observed max |error| 1.44e-3
        # on logits up to 0.34 (this model, 4 steps); 5e-3 leaves 3.5× that, and a dropped bias or
        # gate term moves the logits by far more
        torch.testing.assert_close(logits, expected, atol=5e-3, rtol=0)


def test_bidirectional_layers_cannot_step():
    model = _model("lstm")
    model.rnn.num_directions = 2  # as a bidirectional stack would report
    with pytest.raises(ValueError, match="bidirectional"):
        Stepper(model).step(torch.tensor([1]))


def test_refresh_sees_replaced_parameters():
    model = _model("lstm")
    stepper = Stepper(model)
    _assert_steps_match(model, stepper, 1)
    model.decoder = torch.nn.Linear(16, 30)  # a new object, not new values
    stepper.refresh()
    _assert_steps_match(model, stepper, 1)


def test_a_stepper_holds_its_model_and_the_cache_does_not():
    import gc
    import weakref

    from rnnlab.nn.stepper import stepper_for

    model = _model("lstm")
    stepper, alive = Stepper(model), weakref.ref(model)
    del model
    gc.collect()
    assert alive() is not None  # the Stepper built by hand keeps its model
    logits, _ = stepper.step(torch.tensor([1]))
    assert logits.shape == (1, 30)
    cached_model = _model("gru")
    cached, alive = stepper_for(cached_model), weakref.ref(cached_model)
    del cached_model, stepper
    gc.collect()
    assert alive() is None  # the cache keyed by the model lets it go
    with pytest.raises(RuntimeError, match="no longer exists"):
        cached.step(torch.tensor([1]))
