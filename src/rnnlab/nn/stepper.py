"""Fast incremental steps for generation: one token per sequence per call, at batch 1 or many.

Letters: B batch (sequences sampled together), V vocabulary, E embedding size, H hidden size,
L layers, G gate blocks (1 RNN, 3 GRU, 4 LSTM).

Generating text calls the model once per token, so at batch 1 the cost of a step is the time to
read every weight once (a matrix-vector product per layer: the "matvec bound") plus whatever the
framework adds around it. `LanguageModel.step` used to run the cells one by one as modules; a
`Stepper` does the same arithmetic with as little around it as possible:

- inference mode, no autograd;
- weights rearranged once (and again only when the parameters change): per layer one matrix
  [W_ih, W_hh] (G·H, D+H) with the two biases summed, so a step is one matmul of [x_t, h_{t-1}]
  (the GRU, whose b_hn sits inside r ⊙ (·), keeps its two products apart); for layer 0 the
  embedding is folded into a lookup table, table[v] = W_ih e_v + b (V, G·H), when that table is
  small (a character vocabulary), leaving only W_hh h_{t-1} to multiply;
- LSTM gates in the row order `LSTM_SIGMOID_FIRST` (i, f, o, g) of `rnnlab.nn.gates`, so the three
  sigmoid gates are one kernel launch;
- preallocated buffers for the concatenated inputs and tanh(c_t), per batch size;
- matmuls through oneDNN with prepacked weights where that measured faster than the default BLAS
  on this project's CPUs (float32 and bfloat16 on a CPU; at batch 1 only for matrices of at least
  `ONEDNN_MIN_ROWS` rows: oneDNN's matrix-vector product is slow for a small output such as a
  character decoder);
- optionally bfloat16 weights (`bf16=True`, where `torch.ops.mkldnn._is_mkldnn_bf16_supported()`):
  half the bytes to read per token, with bfloat16's three significant digits in the pre-activations.
  Off by default, so that sampling equals the model's own arithmetic to float tolerance.

Batched sampling is the same step with B > 1 rows (`rnnlab.generate.generate(..., batch_size=B)`):
the matrix-vector products become matrix products, and many sequences cost little more than one.

The state is the model's own, (L, B, H) or the LSTM's tuple (h, c); `step` never changes the state
it is given (beam search and callers that keep old states rely on that), it returns new tensors.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import Tensor

from .cells import GRUCell, LSTMCell, RNNCell
from .gates import GRU_GATES, LSTM_SIGMOID_FIRST, RNN_GATES

#: at batch 1, matrices with fewer output rows use the default BLAS rather than oneDNN
ONEDNN_MIN_ROWS = 512
#: the layer-0 lookup table (V, G·H) is built only up to this size in bytes
TABLE_MAX_BYTES = 32 << 20


def _onednn_ok() -> bool:
    from .bptt.common import _onednn_available  # the same probe as the training kernels

    return _onednn_available()


class _Affine:
    """y = x Wᵀ + b for one weight (N, K), through oneDNN with prepacked weights or torch.addmm."""

    def __init__(self, weight: Tensor, bias: Tensor | None, bf16: bool) -> None:
        self.weight = weight.contiguous()  # (N, K) float
        self.bias = bias
        self.bf16 = bf16
        cpu = weight.device.type == "cpu" and weight.dtype == torch.float32 and _onednn_ok()
        self.onednn_capable = cpu
        self.packed: dict[int, Tensor] = {}
        if bf16:
            self.weight_bf16 = self.weight.to(torch.bfloat16)
            self.bias_bf16 = None if bias is None else bias.to(torch.bfloat16)

    def uses_onednn(self, batch_size: int) -> bool:
        big = batch_size > 1 or self.weight.shape[0] >= ONEDNN_MIN_ROWS
        return self.onednn_capable and (self.bf16 or big)

    def __call__(self, x: Tensor) -> Tensor:
        B = x.shape[0]
        if not self.uses_onednn(B):
            if self.bias is None:
                return torch.mm(x, self.weight.t())
            return torch.addmm(self.bias, x, self.weight.t())
        packed = self.packed.get(B)
        if packed is None:
            source = self.weight_bf16 if self.bf16 else self.weight
            packed = self.packed[B] = torch.ops.mkldnn._reorder_linear_weight(source, B)
        if self.bf16:
            x = x.to(torch.bfloat16)
            return torch.ops.mkldnn._linear_pointwise(x, packed, self.bias_bf16, "none", [], "").float()
        return torch.ops.mkldnn._linear_pointwise(x, packed, self.bias, "none", [], "")


class _Layer:
    """One layer of the stack: gates from [x, h] (or the lookup table), then the cell's update."""

    def __init__(self, cell, embedding: Tensor | None, bf16: bool) -> None:
        self.cell = cell
        self._scratch: dict[tuple[int, int], Tensor] = {}  # (B, width) -> a preallocated buffer
        H = self.H = cell.hidden_size
        if type(cell) is LSTMCell:
            self.kind, order = "lstm", LSTM_SIGMOID_FIRST  # (i, f, g, o) -> (i, f, o, g)
            self.sigmoid_rows = LSTM_SIGMOID_FIRST.rows("i", "f", "o", hidden_size=H)  # the first 3H
        elif type(cell) is GRUCell:
            self.kind, order = "gru", GRU_GATES
        elif type(cell) is RNNCell:
            self.kind, order = cell.nonlinearity, RNN_GATES
        else:  # peephole LSTM, Cho GRU, a user's cell: the cell's own step
            self.kind, order = "cell", None
            self.table = None
            if embedding is not None:
                self.embedding = embedding
            return
        rows = lambda w: cell.layout.reorder(w, order)  # a copy, in the stepper's gate order
        W_ih, W_hh = rows(cell.weight_ih), rows(cell.weight_hh)
        b_ih, b_hh = rows(cell.bias_ih), rows(cell.bias_hh)
        self.table = None
        if self.kind == "gru":  # b_hn sits inside r ⊙ (W_hn h + b_hn): the biases stay apart
            ih_bias, hh_bias = b_ih, b_hh
        else:
            ih_bias, hh_bias = b_ih + b_hh, None
        if embedding is not None and embedding.shape[0] * W_ih.shape[0] * 4 <= TABLE_MAX_BYTES:
            self.table = F.linear(embedding, W_ih, ih_bias)  # (V, G·H): token -> W_ih e + b
            self.hh = _Affine(W_hh, hh_bias, bf16)
        elif self.kind == "gru":
            self.embedding = embedding
            self.ih, self.hh = _Affine(W_ih, ih_bias, bf16), _Affine(W_hh, hh_bias, bf16)
        else:
            self.embedding = embedding
            self.xh = _Affine(torch.cat([W_ih, W_hh], dim=1), ih_bias, bf16)  # (G·H, D+H)

    def gates_from(self, x: Tensor | None, tokens: Tensor | None, h: Tensor) -> Tensor:
        """Pre-activations (B, G·H) of the LSTM and RNN: table[token] + W_hh h, or [x, h] W_catᵀ + b."""
        if self.table is not None:
            return self.table.index_select(0, tokens).add_(self.hh(h))
        if x is None:
            x = F.embedding(tokens, self.embedding)
        xh = self.scratch(x.shape[0], x.shape[1] + self.H, x)
        return self.xh(torch.cat([x, h], dim=1, out=xh))  # (B, D+H) @ (D+H, G·H)

    def scratch(self, batch_size: int, width: int, like: Tensor) -> Tensor:
        """A preallocated (B, width) buffer of this layer, reused every step (one per shape)."""
        buffer = self._scratch.get((batch_size, width))
        if buffer is None or buffer.dtype != like.dtype:
            buffer = self._scratch[(batch_size, width)] = like.new_empty((batch_size, width))
        return buffer


class Stepper:
    """The `init_state(B)` / `step(tokens, state)` protocol of a `LanguageModel`, made fast.

    Build it from a model (`Stepper(model)`, or `stepper_for(model)` for a cached one, which is what
    `LanguageModel.step` uses) and hand it to `rnnlab.generate` like the model itself. It reads the
    model's parameters; when their values change (training, `load_state_dict`, `.double()`), the next
    step rebuilds the rearranged weights. Parameters replaced by new objects (a swapped submodule,
    `load_state_dict(..., assign=True)`) are not seen: call `refresh()` then. (Listing the
    parameters every step would cost a tenth of a batch-1 step.)

    Args:
        model: a `rnnlab.models.language_model.LanguageModel` (unidirectional recurrent stack).
        bf16: keep the matrices in bfloat16 (see the module docstring); ignored where the CPU has
            no bfloat16 support or the model is not float32 on a CPU.
        hold: keep the model alive as long as the Stepper (the default). `stepper_for`'s cache, keyed
            by the model, passes False: a strong reference there would keep every model forever.
    """

    def __init__(self, model, *, bf16: bool = False, hold: bool = True) -> None:
        self._model = (lambda: model) if hold else weakref.ref(model)
        self._params = list(model.parameters())
        self.bf16 = bool(
            bf16 and torch.ops.mkldnn._is_mkldnn_bf16_supported() and _onednn_ok()
            and self._params[0].dtype == torch.float32 and self._params[0].device.type == "cpu"
        )
        self._fingerprint = None

    @property
    def model(self):
        model = self._model()
        if model is None:
            raise RuntimeError("The model of this Stepper no longer exists; build a new Stepper.")
        return model

    def init_state(self, batch_size: int):
        """The zero state for `batch_size` sequences: (L, B, H), or a tuple of two for LSTMs."""
        return self.model.init_state(batch_size)

    # ---- preparing the weights ---------------------------------------------------------------

    def refresh(self) -> None:
        """Read the model's parameter objects again and rebuild everything on the next step."""
        self._params = list(self.model.parameters())
        self._fingerprint = None

    def _current(self) -> tuple:
        return tuple((p.data_ptr(), p._version) for p in self._params)

    @torch.inference_mode()
    def _prepare(self) -> None:
        model = self.model
        rnn = model.rnn
        if rnn.num_directions != 1:
            raise ValueError("Stepping a bidirectional layer token by token is not possible.")
        embedding = model.embedding.weight
        self.layers = [
            _Layer(cell, embedding if index == 0 else None, self.bf16) for index, cell in enumerate(rnn.cells)
        ]
        # the decoder as one matmul when the output is a plain linear layer right after the stack;
        # otherwise (a feed-forward head, an adaptive softmax) the model's own modules
        plain = len(model.head.net) == 0 and getattr(model, "adaptive", None) is None
        self.decoder = _Affine(model.decoder.weight, model.decoder.bias, self.bf16) if plain else None
        self.lstm = rnn.is_lstm
        self._fingerprint = self._current()

    # ---- one step ----------------------------------------------------------------------------

    @torch.inference_mode()
    def step(self, tokens: Tensor, state=None) -> tuple[Tensor, object]:
        """tokens (B,) -> logits (B, V) and the new state; `state` itself is left unchanged."""
        if self._fingerprint != self._current():
            self._prepare()
        B = tokens.shape[0]
        if state is None:
            state = self.init_state(B)
        if self.lstm:
            h_in, c_in = state
            h_out, c_out = torch.empty_like(h_in), torch.empty_like(c_in)  # (L, B, H)
        else:
            h_in = state
            h_out = torch.empty_like(h_in)
        x = None  # the input of the layer; layer 0 reads the tokens
        for index, layer in enumerate(self.layers):
            h = h_in[index]  # (B, H)
            kind = layer.kind
            if kind == "lstm":
                H = layer.H
                gates = layer.gates_from(x, tokens if index == 0 else None, h)  # (B, 4H): i, f, o, g
                gates[:, layer.sigmoid_rows].sigmoid_()
                i, f, o, g = gates.view(B, 4, H).unbind(1)  # LSTM_SIGMOID_FIRST
                g.tanh_()
                c_new = c_out[index]
                torch.mul(f, c_in[index], out=c_new)  # c_t = f ⊙ c_{t-1} + i ⊙ g
                c_new.addcmul_(i, g)
                tanh_c = torch.tanh(c_new, out=layer.scratch(B, H, c_new))
                torch.mul(o, tanh_c, out=h_out[index])  # h_t = o ⊙ tanh(c_t)
            elif kind in ("tanh", "relu"):
                a = layer.gates_from(x, tokens if index == 0 else None, h)  # (B, H)
                if kind == "tanh":
                    torch.tanh(a, out=h_out[index])
                else:
                    torch.clamp(a, min=0.0, out=h_out[index])  # relu, which has no out= form
            elif kind == "gru":
                if layer.table is not None and index == 0:
                    gx = layer.table.index_select(0, tokens)  # (B, 3H)
                else:
                    gx = layer.ih(x if x is not None else F.embedding(tokens, layer.embedding))
                gh = layer.hh(h)  # (B, 3H)
                x_r, x_z, x_n = gx.view(B, 3, -1).unbind(1)  # GRU_GATES
                h_r, h_z, h_n = gh.view(B, 3, -1).unbind(1)
                r = torch.sigmoid(x_r.add_(h_r))
                z = torch.sigmoid(x_z.add_(h_z))
                n = torch.tanh(torch.addcmul(x_n, r, h_n))
                torch.addcmul(n, z, h - n, out=h_out[index])  # h_t = n + z ⊙ (h_{t-1} - n)
            else:  # a cell without a fast form: its own module
                inputs = x if x is not None else F.embedding(tokens, layer.embedding)
                s = layer.cell(inputs, (h, c_in[index]) if self.lstm else h)
                if self.lstm:
                    h_out[index].copy_(s[0])
                    c_out[index].copy_(s[1])
                else:
                    h_out[index].copy_(s)
            x = h_out[index]
        if self.decoder is not None:
            logits = self.decoder(x)  # (B, V)
        else:
            logits = _output_logits(self.model, x)
        return logits, ((h_out, c_out) if self.lstm else h_out)


_STEPPERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def stepper_for(model) -> Stepper:
    """The cached float32 `Stepper` of `model` (built on first use, dropped with the model)."""
    stepper = _STEPPERS.get(model)
    if stepper is None:
        stepper = _STEPPERS[model] = Stepper(model, hold=False)
    return stepper


def reference_step(model, tokens: Tensor, state=None) -> tuple[Tensor, object]:
    """The plain step, the cells called one by one as modules: what `Stepper` must equal.

    Kept for tests and benchmarks; it is how `LanguageModel.step` worked before the Stepper.
    """
    with torch.inference_mode():
        if state is None:
            state = model.init_state(tokens.shape[0])
        x = model.embedding(tokens)  # (B, E)
        new_h, new_c = [], []
        lstm = isinstance(state, tuple)
        for layer, cell in enumerate(model.rnn.cells):
            s = (state[0][layer], state[1][layer]) if lstm else state[layer]
            s = cell(x, s)
            x = s[0] if lstm else s
            new_h.append(x)
            if lstm:
                new_c.append(s[1])
        logits = _output_logits(model, x)  # (B, V)
        state = (torch.stack(new_h), torch.stack(new_c)) if lstm else torch.stack(new_h)
        return logits, state


def _output_logits(model, h: Tensor) -> Tensor:
    """The model's head and output layer on the last layer's h (B, H) -> (B, V)."""
    features = model.head(h)
    if hasattr(model, "output_logits"):  # a plain decoder or an adaptive softmax
        return model.output_logits(features)
    return model.decoder(features)
