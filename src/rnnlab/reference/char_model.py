"""A character-level language model in numpy — the lecture's "hello" example, trainable without torch.

Letters: N batch, T time, V vocabulary (characters), W embedding size, H hidden size.

    x_t = W_embed[c_t]                            (N, W)   (a one-hot c_t times W_embed)
    h_t = cell(x_t, h_{t-1})                      (N, H)   rnn | lstm | gru, h_0 = 0
    y_t = h_t W_vocab + b_vocab                   (N, V)   scores of the next character
    loss = -(1/(N·T)) Σ_{n,t} log softmax(y_t)[c_{t+1}]

The loss is averaged per character (not summed over time as in the captioning assignment), so it
reads directly as nats per character; divide by ln 2 for bits per character.

Use it with `rnnlab.reference.Solver`:

    vocab = CharVocabulary.from_text("hello")
    model = CharRNN(len(vocab), wordvec_dim=8, hidden_dim=16, seed=0)
    solver = Solver(model, update_rule="adam", optim_config={"learning_rate": 1e-2})
    ids = vocab.encode("hello")[None]                 # (1, 5)
    for _ in range(200):
        solver.step(ids[:, :-1], ids[:, 1:])          # read "hell", predict "ello"
    vocab.decode(model.sample(vocab.encode("h"), length=5, temperature=0))   # "hello"
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab.reference.gru import gru_backward, gru_forward, gru_step_forward
from rnnlab.reference.lstm import lstm_backward, lstm_forward, lstm_step_forward
from rnnlab.reference.rnn import rnn_backward, rnn_forward, rnn_step_forward
from rnnlab.reference.temporal import (
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)

#: number of gate blocks in Wx, Wh, b for each cell type (gru uses the reset-after form)
GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}


@dataclass(frozen=True)
class CharVocabulary:
    """The sorted set of characters of a text, with index lookups both ways."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> CharVocabulary:
        if not text:
            raise ValueError("Cannot build a character vocabulary from an empty text.")
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Characters -> (len(text),) int64 indices."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(f"Characters {unknown} are not in the vocabulary {''.join(self.chars)!r}.")
        return np.array([index[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        """Indices -> string."""
        return "".join(self.chars[int(i)] for i in ids)


def random_windows(
    ids: np.ndarray, seq_length: int, batch_size: int, rng: np.random.Generator | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless batches of random windows of a token stream, for `Solver.train`.

    Args:
        ids: (S,) character indices of the training text, S > seq_length.
        seq_length: T, characters read per window.
        batch_size: N, windows per batch.
        rng: random generator (a fresh unseeded one by default).

    Yields:
        (inputs, targets), each (N, T), with targets = inputs shifted one character ahead.
    """
    if len(ids) <= seq_length:
        raise ValueError(f"The text has {len(ids)} characters; it needs more than seq_length={seq_length}.")
    rng = np.random.default_rng() if rng is None else rng
    offsets = np.arange(seq_length + 1)  # (T + 1,)
    while True:
        starts = rng.integers(0, len(ids) - seq_length, size=batch_size)  # (N,)
        windows = ids[starts[:, None] + offsets]  # (N, T + 1)
        yield windows[:, :-1], windows[:, 1:]


class CharRNN:
    """Character-level language model with hand-written backward (equations in the module docstring).

    `params`: W_embed (V, W), Wx (W, G·H), Wh (H, G·H), b (G·H,), W_vocab (H, V), b_vocab (V,), and for
    'gru' also b_hn (H,). G and the gate order are those of `rnn_forward` (1), `lstm_forward`
    (4: i, f, o, g) and `gru_forward` (3: r, z, n, reset after the matmul).
    """

    def __init__(
        self,
        vocab_size: int,
        wordvec_dim: int = 16,
        hidden_dim: int = 32,
        cell_type: str = "rnn",
        dtype: Any = np.float64,
        *,
        seed: int | None = None,
    ) -> None:
        if cell_type not in GATE_BLOCKS:
            raise ValueError(f"cell_type must be one of {sorted(GATE_BLOCKS)}, got {cell_type!r}.")
        self.cell_type = cell_type
        self.dtype = dtype
        rng = np.random.default_rng(seed)
        V, W, H, G = vocab_size, wordvec_dim, hidden_dim, GATE_BLOCKS[cell_type]
        self.params: dict[str, np.ndarray] = {
            "W_embed": rng.standard_normal((V, W)),  # unit scale: each input is one row, as a one-hot
            "Wx": rng.standard_normal((W, G * H)) / np.sqrt(W),
            "Wh": rng.standard_normal((H, G * H)) / np.sqrt(H),
            "b": np.zeros(G * H),
            "W_vocab": rng.standard_normal((H, V)) / np.sqrt(H),
            "b_vocab": np.zeros(V),
        }
        if cell_type == "gru":
            self.params["b_hn"] = np.zeros(H)
        for name, value in self.params.items():
            self.params[name] = value.astype(dtype)

    @property
    def hidden_dim(self) -> int:
        return self.params["Wh"].shape[0]

    def _cell_weights(self) -> tuple[np.ndarray, ...]:
        p = self.params
        weights = (p["Wx"], p["Wh"], p["b"])
        return weights + (p["b_hn"],) if self.cell_type == "gru" else weights

    def _sequence_forward(self, inputs: np.ndarray) -> tuple[np.ndarray, tuple]:
        """inputs (N, T) -> scores (N, T, V) and the caches of every layer."""
        N = inputs.shape[0]
        x, embed_cache = word_embedding_forward(inputs, self.params["W_embed"])  # (N, T, W)
        h0 = np.zeros((N, self.hidden_dim), dtype=x.dtype)
        forward = {"rnn": rnn_forward, "lstm": lstm_forward, "gru": gru_forward}[self.cell_type]
        h, cell_cache = forward(x, h0, *self._cell_weights())  # (N, T, H)
        scores, affine_cache = temporal_affine_forward(h, self.params["W_vocab"], self.params["b_vocab"])
        return scores, (embed_cache, cell_cache, affine_cache)

    def scores(self, inputs: np.ndarray) -> np.ndarray:
        """Next-character scores (N, T, V) after reading inputs (N, T), starting from h_0 = 0."""
        return self._sequence_forward(inputs)[0]

    def loss(self, inputs: np.ndarray, targets: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean cross-entropy per character and its gradients.

        Args:
            inputs: (N, T) character indices read by the model.
            targets: (N, T) the characters it must predict (usually inputs shifted by one).

        Returns:
            loss (nats per character) and grads, a dict with the keys and shapes of `params`.
        """
        N, T = inputs.shape
        scores, (embed_cache, cell_cache, affine_cache) = self._sequence_forward(inputs)
        mask = np.ones((N, T), dtype=bool)
        loss, dscores = temporal_softmax_loss(scores, targets, mask)  # summed over t, mean over n
        loss, dscores = loss / T, dscores / T  # ... and now a mean over every character

        grads: dict[str, np.ndarray] = {}
        dh, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, affine_cache)
        if self.cell_type == "gru":
            dx, _, grads["Wx"], grads["Wh"], grads["b"], grads["b_hn"] = gru_backward(dh, cell_cache)
        else:
            backward = rnn_backward if self.cell_type == "rnn" else lstm_backward
            dx, _, grads["Wx"], grads["Wh"], grads["b"] = backward(dh, cell_cache)
        grads["W_embed"] = word_embedding_backward(dx, embed_cache)
        return loss, grads

    def sample(
        self,
        prefix: np.ndarray | list[int],
        length: int,
        temperature: float = 1.0,
        rng: np.random.Generator | None = None,
    ) -> list[int]:
        """Generate characters one at a time, feeding each output back in as the next input.

        Args:
            prefix: at least one character index; the model reads them all before generating.
            length: how many characters to return, prefix included.
            temperature: divides the scores before the softmax; 0 means greedy (argmax), below 1
                sharpens and above 1 flattens the distribution. The lecture samples (temperature 1)
                rather than taking the argmax, to get diverse text.
            rng: random generator for sampling (a fresh unseeded one by default).

        Returns:
            the prefix followed by the generated indices, `length` in all (just the prefix if it is
            already that long).
        """
        prefix = [int(i) for i in prefix]
        if not prefix:
            raise ValueError("sample needs a non-empty prefix of character indices to start from.")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 is greedy), got {temperature}.")
        rng = np.random.default_rng() if rng is None else rng
        p = self.params
        h = np.zeros((1, self.hidden_dim), dtype=p["Wh"].dtype)
        c = np.zeros_like(h)  # LSTM cell state, unused by the other cells

        def step(index: int, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x = p["W_embed"][[index]]  # (1, W)
            if self.cell_type == "rnn":
                return rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])[0], c
            if self.cell_type == "lstm":
                return lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])[:2]
            return gru_step_forward(x, h, p["Wx"], p["Wh"], p["b"], p["b_hn"])[0], c

        for index in prefix:  # read the prefix: the state now summarises it
            h, c = step(index, h, c)
        out = list(prefix)
        while len(out) < length:
            scores = (h @ p["W_vocab"] + p["b_vocab"])[0]  # (V,)
            if temperature == 0:
                next_id = int(scores.argmax())
            else:
                z = scores / temperature
                probs = np.exp(z - z.max())
                next_id = int(rng.choice(len(probs), p=probs / probs.sum()))
            out.append(next_id)
            h, c = step(next_id, h, c)
        return out
