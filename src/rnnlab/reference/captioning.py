"""The CS231n captioning model in numpy: image features -> h0, then an RNN or LSTM language model.

Letters: N batch, T caption length (minus one after the shift), D image-feature size, W word-vector
size, H hidden size, V vocabulary size.

    h0 = features W_proj + b_proj                  (N, H)   the image sets the initial state
    x = W_embed[captions_in]                       (N, T, W)
    h = rnn_forward(x, h0, ...) | lstm_forward(...) (N, T, H)
    scores = h W_vocab + b_vocab                   (N, T, V)
    loss = temporal_softmax_loss(scores, captions_out, captions_out ≠ <NULL>)

Training feeds the caption shifted by one (teacher forcing): inputs are words 0..T-1, targets are
words 1..T, so at every step the model predicts the next word. `<NULL>` padding is masked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.reference.lstm import lstm_backward, lstm_forward, lstm_step_forward
from rnnlab.reference.rnn import rnn_backward, rnn_forward, rnn_step_forward
from rnnlab.reference.temporal import (
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)

#: number of gate blocks in Wx, Wh, b for each cell type
GATE_BLOCKS = {"rnn": 1, "lstm": 4}


class CaptioningRNN:
    """Image captioning with a vanilla RNN or an LSTM, forward and backward by hand.

    `params` holds W_embed (V, W), W_proj (D, H), b_proj (H,), Wx (W, G·H), Wh (H, G·H), b (G·H,),
    W_vocab (H, V), b_vocab (V,), where G = 1 for 'rnn' and 4 for 'lstm' (gate order i, f, o, g).
    """

    def __init__(
        self,
        word_to_idx: dict[str, int],
        input_dim: int = 512,
        wordvec_dim: int = 128,
        hidden_dim: int = 128,
        cell_type: str = "rnn",
        dtype: Any = np.float32,
        *,
        seed: int | None = None,
    ) -> None:
        """Initialise small random weights (scaled by 1/sqrt(fan-in)) and zero biases.

        Args:
            word_to_idx: the vocabulary, V = len(word_to_idx). It must contain '<NULL>'; `sample`
                also needs '<START>' and '<END>'.
            input_dim: D, size of the image feature vectors.
            wordvec_dim: W, size of the word vectors.
            hidden_dim: H, size of the hidden state.
            cell_type: 'rnn' or 'lstm'.
            dtype: numpy dtype of all parameters (float64 for gradient checks).
            seed: seed of the initialisation, for reproducible models.
        """
        if cell_type not in GATE_BLOCKS:
            raise ValueError(f"cell_type must be 'rnn' or 'lstm', got {cell_type!r}.")
        if "<NULL>" not in word_to_idx:
            raise ValueError("word_to_idx has no '<NULL>' token; the loss needs it to mask padding.")
        self.cell_type = cell_type
        self.dtype = dtype
        self.word_to_idx = word_to_idx
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>")  # needed by `sample` only, as in the assignment
        self._end = word_to_idx.get("<END>")

        rng = np.random.default_rng(seed)
        V, G = len(word_to_idx), GATE_BLOCKS[cell_type]
        D, W, H = input_dim, wordvec_dim, hidden_dim
        self.params: dict[str, np.ndarray] = {
            "W_embed": rng.standard_normal((V, W)) / 100,
            "W_proj": rng.standard_normal((D, H)) / np.sqrt(D),
            "b_proj": np.zeros(H),
            "Wx": rng.standard_normal((W, G * H)) / np.sqrt(W),
            "Wh": rng.standard_normal((H, G * H)) / np.sqrt(H),
            "b": np.zeros(G * H),
            "W_vocab": rng.standard_normal((H, V)) / np.sqrt(H),
            "b_vocab": np.zeros(V),
        }
        for name, value in self.params.items():
            self.params[name] = value.astype(dtype)

    def loss(self, features: np.ndarray, captions: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Teacher-forced loss and gradients for a batch of images and their captions.

        Args:
            features: (N, D) image features.
            captions: (N, T + 1) word indices, starting with `<START>`, padded with `<NULL>`.

        Returns:
            loss (summed over time, averaged over the batch) and grads, a dict with the keys of
            `params` and arrays of the same shapes.
        """
        p = self.params
        captions_in = captions[:, :-1]  # (N, T): what the model reads
        captions_out = captions[:, 1:]  # (N, T): what it must predict, one step ahead
        mask = captions_out != self._null  # (N, T)

        h0, proj_cache = features @ p["W_proj"] + p["b_proj"], features  # (N, H)
        x, embed_cache = word_embedding_forward(captions_in, p["W_embed"])  # (N, T, W)
        sequence_forward = rnn_forward if self.cell_type == "rnn" else lstm_forward
        h, rnn_cache = sequence_forward(x, h0, p["Wx"], p["Wh"], p["b"])  # (N, T, H)
        scores, affine_cache = temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])  # (N, T, V)
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask)

        grads: dict[str, np.ndarray] = {}
        dh, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, affine_cache)
        sequence_backward = rnn_backward if self.cell_type == "rnn" else lstm_backward
        dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = sequence_backward(dh, rnn_cache)
        grads["W_embed"] = word_embedding_backward(dx, embed_cache)
        grads["W_proj"] = proj_cache.T @ dh0
        grads["b_proj"] = dh0.sum(axis=0)
        return loss, grads

    def sample(self, features: np.ndarray, max_length: int = 30) -> np.ndarray:
        """Greedy decoding: start from `<START>`, feed back the most likely word at each step.

        Args:
            features: (N, D) image features.
            max_length: the number of words to generate.

        Returns:
            captions (N, max_length) of word indices. Once a caption has produced `<END>`, its
            remaining positions hold `<NULL>` (the model still runs, but its choices are discarded).
        """
        if self._start is None or self._end is None:
            raise ValueError("sample needs '<START>' and '<END>' in word_to_idx; add them to the vocabulary.")
        p = self.params
        N = features.shape[0]
        captions = np.full((N, max_length), self._null, dtype=np.int64)
        h = features @ p["W_proj"] + p["b_proj"]  # (N, H)
        c = np.zeros_like(h)  # LSTM cell state, unused by the RNN
        words = np.full(N, self._start, dtype=np.int64)
        finished = np.zeros(N, dtype=bool)
        for t in range(max_length):
            x = p["W_embed"][words]  # (N, W)
            if self.cell_type == "rnn":
                h, _ = rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
            else:
                h, c, _ = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
            scores = h @ p["W_vocab"] + p["b_vocab"]  # (N, V)
            words = scores.argmax(axis=1)
            captions[~finished, t] = words[~finished]
            finished |= words == self._end
        return captions
