"""`rnnlab gradcheck`: every model of the package against finite differences, in float64.

Letters: B batch, T time, D input size, H hidden size, V vocabulary, K layers × directions.

Each check is a *case*: a function of a few float64 tensors (the inputs, the initial state and every
parameter of the module) and those tensors. Two things are computed for it:

1. pass/fail: `torch.autograd.gradcheck`, which compares the analytic Jacobian (one backward pass per
   output) with centred differences at its default tolerances (eps 1e-6, atol 1e-5, rtol 1e-3).
2. the number shown in the table, the *relative error* of the analytic Jacobian A against our own
   centred-difference Jacobian N, per input tensor, in the normwise form the deeplearning.ai notes use

       error = ‖A - N‖ / (‖A‖ + ‖N‖)        (Frobenius norms; < 1e-7 is "correct")

   and the largest over the case's tensors. Why normwise and not CS231n's elementwise `rel_error`:
   in float64 every finite difference carries ≈ ε·|f|/h ≈ 1e-10 of rounding, so an element whose true
   derivative is 1e-4 would show an elementwise error of 1e-6 although the backward pass is exact.
   The normwise error is dominated by the large derivatives, where the comparison is meaningful.
   A is `torch.autograd.functional.jacobian`; N perturbs one element at a time by ±h, h = 1e-6.

The built-in cases cover every cell, the sequence layer (explicit and fused paths, stacked,
bidirectional, ragged lengths), the language model for every cell, and the task models that exist
today: the text classifier (each pooling), the tagger (with its character BiRNN), the encoder-decoder
(each attention), and the image classifiers (linear softmax/SVM, MLP with batch norm or maxout, CNN,
row-RNN). kNN is not trained by gradients and has no case. A tensor whose whole gradient is tiny shows
a larger normwise error (rounding is about 1e-10 absolute), which is why attention parameters reach
1e-7 while their gradcheck passes.

More cases register by name (models never import this module; the cases of rnnlab's own models
are defined here). `rnnlab gradcheck` also imports every module of `rnnlab.models`, so an extension
can register its own case at import time:

    from rnnlab.diagnostics.gradcheck import register

    @register("captioner/lstm")
    def _captioner_case():
        model = Captioner(...)
        features = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
        return module_case(model, lambda m, f: m(f, captions), (features,))

A builder takes no arguments and returns (function, inputs): `function(*inputs)` returns a tensor or a
(nested) tuple of tensors, and `inputs` is a tuple whose float64 tensors with `requires_grad` are the
ones checked. `module_case` turns a module's parameters into such inputs.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import UserError

Case = tuple[Callable[..., object], tuple]
Builder = Callable[[], Case]

#: name -> builder, in registration order (the table's order)
REGISTRY: dict[str, Builder] = {}

#: step of the centred differences, and the case sizes: tiny, so each check takes well under a second
FD_STEP = 1e-6
BATCH, TIME, INPUT, HIDDEN, VOCAB = 2, 3, 3, 2, 5


def register(name: str, builder: Builder | None = None, *, replace: bool = False):
    """Register a gradient-check case under `name`; usable as `register(name, builder)` or a decorator."""

    def add(fn: Builder) -> Builder:
        if name in REGISTRY and not replace and REGISTRY[name] is not fn:
            raise ValueError(f"a gradcheck case named {name!r} is already registered; pass replace=True")
        REGISTRY[name] = fn
        return fn

    return add(builder) if builder is not None else add


def module_case(module: nn.Module, forward: Callable[..., object], inputs: Sequence[object],
                train: bool = False) -> Case:
    """A case that checks every parameter of `module` and the tensors of `inputs` that require grad.

    `forward(module, *inputs)` runs the module; the parameters are swapped in through
    `torch.func.functional_call`, so gradcheck can perturb them like any other input. Tied parameters
    (one tensor under two names) appear once. The module is converted to float64 and put in evaluation
    mode, because gradcheck needs a deterministic function; `train=True` keeps training mode, for
    modules whose training behaviour is deterministic and worth checking (batch normalisation's
    batch statistics, with dropout 0).
    """
    module = module.double().train(train)
    bound = _BoundForward(module, forward)
    names, params = [], []
    for name, param in module.named_parameters():  # duplicates (tied weights) are left out
        names.append(f"inner.{name}")
        params.append(param.detach().clone().requires_grad_(True))
    n = len(params)

    def function(*tensors):
        return torch.func.functional_call(bound, dict(zip(names, tensors[:n])), tuple(tensors[n:]))

    return function, (*params, *inputs)


class _BoundForward(nn.Module):
    """`forward(module, *inputs)` as a module, so `functional_call` can swap the parameters in."""

    def __init__(self, inner: nn.Module, forward: Callable[..., object]) -> None:
        super().__init__()
        self.inner = inner
        self._forward = forward

    def forward(self, *inputs):
        return self._forward(self.inner, *inputs)


# ---- the check ------------------------------------------------------------------------------


@dataclass
class CheckResult:
    name: str
    tensors: int  # how many tensors were checked (parameters, inputs, initial states)
    values: int  # how many scalars in all
    max_rel_error: float  # largest normwise relative error over the tensors (see the module docstring)
    worst: str  # which tensor had it, by position ("input 3")
    passed: bool  # torch.autograd.gradcheck's verdict
    seconds: float
    error: str = ""  # why the case could not be built or run, if it could not

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _leaves(out) -> list[Tensor]:
    """The tensors of a (nested) tuple output, in order."""
    if isinstance(out, Tensor):
        return [out]
    return [t for o in out for t in _leaves(o)]


def _flat_output(out) -> Tensor:
    """Every tensor of a (nested) output, flattened and concatenated: (N,)."""
    return torch.cat([t.reshape(-1) for t in _leaves(out)])


def numerical_jacobian(function: Callable[..., object], inputs: tuple, index: int,
                       h: float = FD_STEP) -> Tensor:
    """Centred-difference Jacobian of the flat output with respect to inputs[index]: (N, numel)."""
    x = inputs[index]
    columns = []
    with torch.no_grad():
        base = x.detach().clone()
        point = list(inputs)
        for i in range(x.numel()):
            plus, minus = base.clone(), base.clone()
            plus.view(-1)[i] += h
            minus.view(-1)[i] -= h
            point[index] = plus
            f_plus = _flat_output(function(*point))
            point[index] = minus
            f_minus = _flat_output(function(*point))
            columns.append((f_plus - f_minus) / (2 * h))  # (N,)
    return torch.stack(columns, dim=1)  # (N, numel)


def analytic_jacobians(function: Callable[..., object], inputs: tuple, checked: list[int]) -> list[Tensor]:
    """Autograd's Jacobian of the flat output with respect to each checked input: [(N, numel)]."""

    def of_checked(*tensors):
        point = list(inputs)
        for i, t in zip(checked, tensors):
            point[i] = t
        return _flat_output(function(*point))

    jac = torch.autograd.functional.jacobian(of_checked, tuple(inputs[i] for i in checked))
    return [j.reshape(j.shape[0], -1) for j in jac]  # each (N, numel)


def relative_error(analytic: Tensor, numerical: Tensor) -> float:
    """‖A - N‖ / (‖A‖ + ‖N‖), 0 when both are zero (the deeplearning.ai notes' gradient-check number)."""
    denominator = float(analytic.norm() + numerical.norm())
    return float((analytic - numerical).norm()) / denominator if denominator > 0 else 0.0


def check_case(name: str, builder: Builder) -> CheckResult:
    """Build one case and check it: gradcheck's verdict plus our relative error."""
    start = time.perf_counter()
    try:
        function, inputs = builder()
        inputs = tuple(inputs)
        checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
        for i in checked:
            if inputs[i].dtype != torch.float64:
                raise TypeError(f"input {i} is {inputs[i].dtype}; gradient checks need float64")
        # gradcheck wants a tensor or a flat tuple; states are tuples inside the output tuple
        passed = torch.autograd.gradcheck(lambda *x: tuple(_leaves(function(*x))), inputs, eps=FD_STEP,
                                          raise_exception=False)
        errors = []
        for i, analytic in zip(checked, analytic_jacobians(function, inputs, checked)):
            errors.append((relative_error(analytic, numerical_jacobian(function, inputs, i)), i))
        worst_error, worst = max(errors) if errors else (0.0, -1)
        return CheckResult(name, len(checked), sum(inputs[i].numel() for i in checked), worst_error,
                           f"input {worst}", bool(passed), time.perf_counter() - start)
    except Exception as error:  # noqa: BLE001 - a broken case is a failed row, not a crash
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return CheckResult(name, 0, 0, float("nan"), "", False, time.perf_counter() - start, message[:200])


# ---- built-in cases: every cell, the sequence layer, the language model ---------------------------


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int, scale: float = 1.0, grad: bool = True) -> Tensor:
    x = torch.randn(*shape, generator=_generator(seed), dtype=torch.float64) * scale
    return x.requires_grad_(grad)


def _randomize(module: nn.Module, seed: int, scale: float = 0.5) -> nn.Module:
    """Give every parameter (biases, peepholes included) random values, so no term is checked at zero."""
    gen = _generator(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return module


def _initial_state(is_lstm: bool, shape: tuple[int, ...], seed: int) -> tuple[Tensor, ...]:
    h0 = _randn(*shape, seed=seed, scale=0.5)
    return (h0, _randn(*shape, seed=seed + 1, scale=0.5)) if is_lstm else (h0,)


def cell_case(cell_name: str) -> Builder:
    """One step of a cell: x (B, D), state -> new state; checks W_ih, W_hh, biases, x and the state."""
    from ..nn import make_cell

    def build() -> Case:
        cell = _randomize(make_cell(cell_name, INPUT, HIDDEN).double(), seed=1)
        is_lstm = cell_name.startswith("lstm")
        x = _randn(BATCH, INPUT, seed=2)
        state = _initial_state(is_lstm, (BATCH, HIDDEN), seed=3)
        forward = (lambda m, x, h, c: m(x, (h, c))) if is_lstm else (lambda m, x, h: m(x, h))
        return module_case(cell, forward, (x, *state))

    return build


def recurrent_case(cell_name: str, path: str, bidirectional: bool, ragged: bool) -> Builder:
    """Two stacked layers over (B, T, D), from a random initial state; optionally ragged lengths."""
    from ..nn import Recurrent

    def build() -> Case:
        layer = Recurrent(cell_name, INPUT, HIDDEN, num_layers=2, bidirectional=bidirectional, path=path)
        layer = _randomize(layer.double(), seed=4)
        K = 2 * (2 if bidirectional else 1)
        B = 3 if ragged else BATCH
        x = _randn(B, TIME, INPUT, seed=5)
        state = _initial_state(layer.is_lstm, (K, B, HIDDEN), seed=6)
        lengths = torch.tensor([TIME, 1, 2][:B]) if ragged else None

        def forward(m, x, *s):
            return m(x, s if layer.is_lstm else s[0], lengths=lengths)

        return module_case(layer, forward, (x, *state))

    return build


def language_model_case(cell_name: str, head: tuple[int, ...] = (), tie: bool = False) -> Builder:
    """The language model over integer tokens: logits, final state and the loss; checks every parameter
    (the embedding too) and the initial state."""
    from ..models.language_model import LanguageModel, LanguageModelConfig

    def build() -> Case:
        embedding = HIDDEN if tie else INPUT
        config = LanguageModelConfig(cell=cell_name, embedding=embedding, hidden=HIDDEN, layers=2,
                                     head=list(head), tie_weights=tie)
        model = _randomize(LanguageModel(VOCAB, config).double(), seed=7)
        gen = _generator(8)
        tokens = torch.randint(VOCAB, (BATCH, TIME), generator=gen)
        targets = torch.randint(VOCAB, (BATCH, TIME), generator=gen)
        state = _initial_state(model.rnn.is_lstm, (2, BATCH, HIDDEN), seed=9)

        def forward(m, *s):
            logits, final = m(tokens, s if m.rnn.is_lstm else s[0])
            return logits, final, m.loss(logits, targets)

        return module_case(model, forward, state)

    return build


# ---- the task models: sequence classifier, tagger, seq2seq, image classifiers -----------------------


def _lengths_and_tokens(lengths: list[int], vocab: int, seed: int) -> tuple[Tensor, Tensor]:
    """Token ids (B, T) in 1..vocab-1 with padding id 0 after each row's length, and the lengths."""
    gen = _generator(seed)
    lengths_t = torch.tensor(lengths)
    tokens = torch.randint(1, vocab, (len(lengths), max(lengths)), generator=gen)
    steps = torch.arange(max(lengths)).unsqueeze(0)
    return tokens.masked_fill(steps >= lengths_t.unsqueeze(1), 0), lengths_t


def classifier_case(cell_name: str, pooling: str) -> Builder:
    """The text classifier: bidirectional layer over ragged sequences, pooled, logits and loss."""

    def build() -> Case:
        from ..models.classifier import ClassifierConfig, SequenceClassifier

        config = ClassifierConfig(cell=cell_name, embedding=INPUT, hidden=HIDDEN, dropout=0.0,
                                  pooling=pooling, attention_size=HIDDEN)
        model = _randomize(SequenceClassifier(VOCAB, 3, config), seed=10)
        tokens, lengths = _lengths_and_tokens([4, 2, 3], VOCAB, seed=11)
        labels = torch.tensor([0, 2, 1])

        def forward(m):
            logits, _ = m(tokens, lengths)
            return logits, m.loss(logits, labels)

        return module_case(model, forward, ())

    return build


def tagger_case(cell_name: str, char_features: bool) -> Builder:
    """The tagger: word embeddings (+ a character BiRNN per word), a BiRNN, per-word logits and loss."""

    def build() -> Case:
        from ..models.tagger import SequenceTagger, TaggerConfig

        config = TaggerConfig(cell=cell_name, embedding=INPUT, hidden=HIDDEN, dropout=0.0, word_dropout=0.0,
                              char_features=char_features, char_embedding=2, char_hidden=2)
        model = _randomize(SequenceTagger(VOCAB, 6, 3, config), seed=12)
        words, lengths = _lengths_and_tokens([3, 2], VOCAB, seed=13)
        gen = _generator(14)
        char_lengths = torch.tensor([[3, 1, 2], [2, 3, 0]])  # 0: a padding word has no characters
        chars = torch.randint(1, 6, (2, 3, 3), generator=gen)
        chars = chars.masked_fill(torch.arange(3) >= char_lengths.unsqueeze(2), 0)  # (B, T, C)
        tags = torch.tensor([[0, 2, 1], [1, 0, -100]])

        def forward(m):
            logits = m(words, lengths, chars, char_lengths) if char_features else m(words, lengths)
            return logits, m.loss(logits, tags)

        return module_case(model, forward, ())

    return build


def seq2seq_case(cell_name: str, attention: str, decoder_layers: int = 1) -> Builder:
    """The encoder-decoder with teacher forcing: every step's logits, attention weights and the loss."""

    def build() -> Case:
        from ..models.seq2seq import Seq2Seq, Seq2SeqConfig

        config = Seq2SeqConfig(cell=cell_name, embedding=INPUT, hidden=HIDDEN, decoder_layers=decoder_layers,
                               attention=attention, attention_size=HIDDEN, dropout=0.0)
        model = _randomize(Seq2Seq(VOCAB, VOCAB + 1, config), seed=15)
        source, lengths = _lengths_and_tokens([4, 3], VOCAB, seed=16)
        target, _ = _lengths_and_tokens([4, 3], VOCAB + 1, seed=17)  # (B, T + 1): in = [:-1], out = [1:]

        def forward(m):
            logits, weights = m(source, lengths, target[:, :-1])
            return logits, weights, m.loss(logits, target[:, 1:])

        return module_case(model, forward, ())

    return build


def image_case(name: str, **settings) -> Builder:
    """An image classifier on (B, 1, 4, 4) images: scores and loss; the images are checked too."""

    def build() -> Case:
        from ..models.image_classifier import ImageModelConfig, build_classifier, build_input_pipeline

        shape = (1, 4, 4)
        config = ImageModelConfig(name=name)
        for key, value in settings.items():
            setattr(getattr(config, name), key, value)
        getattr(config, name).__post_init__()  # validate the tiny settings
        model = build_classifier(config, build_input_pipeline(name, shape), 3, shape)
        model = _randomize(model, seed=18)
        gen = _generator(19)
        images = torch.rand(4, *shape, generator=gen, dtype=torch.float64).requires_grad_(True)
        labels = torch.tensor([0, 2, 1, 2])

        def forward(m, x):
            scores = m(x)
            return scores, m.loss(scores, labels)

        # batch normalisation in training mode: its backward through the batch statistics is the
        # interesting one, and without dropout it is deterministic
        return module_case(model, forward, (images,), train=True)

    return build


def _register_builtin() -> None:
    from ..nn import CELLS

    for cell in CELLS:
        register(f"cell/{cell}", cell_case(cell))
    for cell, cls in CELLS.items():
        paths = ["explicit"] + (["fused"] if (cls.fused_mode or cell.startswith("rnn-")) else [])
        for path in paths:
            register(f"recurrent/{cell}/{path}", recurrent_case(cell, path, False, False))
            register(f"recurrent/{cell}/{path}/bidirectional-ragged", recurrent_case(cell, path, True, True))
    for cell in CELLS:
        register(f"lm/{cell}", language_model_case(cell))
    register("lm/lstm/head", language_model_case("lstm", head=(3,)))
    register("lm/gru/tied", language_model_case("gru", tie=True))
    for pooling in ("last", "mean", "max", "attention"):
        register(f"classifier/lstm/{pooling}", classifier_case("lstm", pooling))
    register("classifier/gru-cho/last", classifier_case("gru-cho", "last"))
    register("tagger/lstm/chars", tagger_case("lstm", True))
    register("tagger/gru/chars", tagger_case("gru", True))
    register("tagger/rnn-tanh/words", tagger_case("rnn-tanh", False))
    for attention in ("none", "additive", "dot", "general", "scaled-dot"):
        register(f"seq2seq/gru/{attention}", seq2seq_case("gru", attention))
    register("seq2seq/lstm/additive/2-layer-decoder", seq2seq_case("lstm", "additive", decoder_layers=2))
    register("image/linear/softmax", image_case("linear", loss="softmax"))
    register("image/linear/svm", image_case("linear", loss="svm"))
    register("image/mlp/relu-batchnorm", image_case("mlp", hidden=[5, 4], dropout=0.0, input_dropout=0.0))
    register("image/mlp/maxout", image_case("mlp", hidden=[4], activation="maxout", dropout=0.0,
                                            input_dropout=0.0, batch_norm=False))
    register("image/cnn", image_case("cnn", channels=[2], convs_per_block=1, hidden=3, dropout=0.0))
    register("image/rnn/lstm", image_case("rnn", hidden=HIDDEN, dropout=0.0))


def _register_captioner_cases() -> None:
    """The captioner's cases (Show and Tell with a vanilla RNN; soft attention with an LSTM and a GRU)."""
    from ..models.captioner import CaptionEncoderConfig, Captioner, CaptionerConfig

    def case(decoder: str, cell: str):
        def build():
            gen = torch.Generator().manual_seed(31)
            config = CaptionerConfig(
                decoder=decoder,
                cell=cell,
                embedding=3,
                hidden=2,
                attention_size=2,
                dropout=0.0,
                encoder=CaptionEncoderConfig(kind="features"),
            )
            model = Captioner(5, config, (3, 2))
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            grid = torch.randn(2, 3, 2, generator=gen, dtype=torch.float64).requires_grad_(True)
            captions = torch.tensor([[1, 3, 4, 2], [1, 4, 2, 0]])

            def forward(m, g):
                nll, mask, out = m.token_nll(g, captions)
                loss, _ = m.loss(g, captions)
                return (out.logits, loss) if out.weights is None else (out.logits, out.weights, loss)

            return module_case(model, forward, (grid,))

        return build

    register("captioner/show-tell/rnn", case("show-tell", "rnn"), replace=True)
    register("captioner/soft/lstm", case("soft", "lstm"), replace=True)
    register("captioner/soft/gru", case("soft", "gru"), replace=True)


_register_builtin()
_register_captioner_cases()


def discover_models() -> list[str]:
    """Import every module of `rnnlab.models` so that the cases they register exist; return failures."""
    from .. import models

    failures = []
    for info in pkgutil.iter_modules(models.__path__):
        try:
            importlib.import_module(f"{models.__name__}.{info.name}")
        except Exception as error:  # noqa: BLE001 - one broken model must not hide the others
            failures.append(f"rnnlab.models.{info.name}: {type(error).__name__}: {error}")
    return failures


def select(pattern: str | None) -> list[str]:
    """Case names matching `pattern`: an exact name, a glob (`cell/*`) or a prefix (`lm`, `recurrent/gru`)."""
    names = list(REGISTRY)
    if pattern is None:
        return names
    if pattern in REGISTRY:
        return [pattern]
    chosen = [n for n in names if fnmatch.fnmatchcase(n, pattern) or n.startswith(pattern.rstrip("/") + "/")]
    if not chosen:
        groups = sorted({n.split("/")[0] for n in names})
        raise UserError(f"no gradcheck case matches {pattern!r}; give a group ({', '.join(groups)}), a name "
                        "such as cell/lstm, or a pattern such as 'recurrent/*/fused' (see --list).")
    return chosen


def run_gradcheck(pattern: str | None = None) -> list[CheckResult]:
    """Check every registered case matching `pattern` (see `select`); models are discovered first."""
    failures = discover_models()
    results = [check_case(name, REGISTRY[name]) for name in select(pattern)]
    for failure in failures:
        results.append(CheckResult(failure.split(":")[0], 0, 0, float("nan"), "", False, 0.0, failure[:200]))
    return results


def format_table(results: list[CheckResult]) -> str:
    """The results as a text table, one row per case."""
    width = max([len(r.name) for r in results] + [5])
    lines = [f"{'model':<{width}}  {'tensors':>7}  {'values':>6}  {'max rel error':>13}  {'gradcheck':>9}",
             "-" * (width + 45)]
    for r in results:
        verdict = "pass" if r.passed else "FAIL"
        error = f"  ({r.error})" if r.error else ""
        lines.append(f"{r.name:<{width}}  {r.tensors:>7}  {r.values:>6}  {r.max_rel_error:>13.2e}  "
                     f"{verdict:>9}{error}")
    failed = sum(not r.passed for r in results)
    summary = f"{len(results) - failed} of {len(results)} passed" + (f"; {failed} FAILED" if failed else "")
    lines.append(summary + "  (max rel error: ‖A-N‖/(‖A‖+‖N‖) per tensor, float64, h=1e-6)")
    return "\n".join(lines)
