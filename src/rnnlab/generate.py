"""Sampling, greedy decoding and batched beam search, written once over a generic step function.

Letters: B batch (independent inputs), K beam size, N rows through the step function (B, or B*K in beam
search), V vocabulary, T generated length.

Every model that generates (the character language model now; a captioner and a translator later)
talks to this module through one incremental step:

    model.init_state(batch_size) -> state             # a tensor or (nested) tuple of tensors, (layers, B, H)
    model.step(tokens (N,), state) -> (logits (N, V), state)

Sampling (`generate`, `sample_text`) uses the model object; decoding (`greedy_decode`, `beam_search`)
takes the step as a plain function plus an initial state, so an encoder-decoder model can hand over
`decoder_step` with its encoder output already folded into the state.

Everything runs under `torch.inference_mode()`: no autograd graph is recorded while generating. The
caller is responsible for `model.eval()` (dropout must be off when sampling); this module never
changes a model's mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from rnnlab.errors import check

State = Any  # a tensor, or a (nested) tuple/list of tensors whose dimension 1 is the batch
StepFn = Callable[[torch.Tensor, State], tuple[torch.Tensor, State]]
ReorderFn = Callable[[State, torch.Tensor], State]
Hypotheses = list[list[tuple[list[int], float]]]  # per input: [(tokens, score), ...], best first


class StepModel(Protocol):
    """What `generate` needs from a model."""

    def init_state(self, batch_size: int) -> State: ...

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]: ...


class TextVocabulary(Protocol):
    """What `sample_text` needs from a vocabulary (`rnnlab.data.vocab.Vocabulary` is one)."""

    def encode(self, text: str, unknown: str = "error") -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def __len__(self) -> int: ...


# ----- argument checks ---------------------------------------------------------------------------
# Each message names the command-line option, because that is where a user would have typed it.


def _check_sampling_args(temperature: float, top_k: int | None, top_p: float | None) -> None:
    check(
        math.isfinite(temperature) and temperature > 0,
        f"--temperature must be greater than 0 (got {temperature}); use --greedy for argmax decoding.",
    )
    check(
        top_k is None or top_k >= 1,
        f"--top-k must be at least 1 (got {top_k}); leave it out to sample from every token.",
    )
    check(
        top_p is None or 0 < top_p <= 1,
        f"--top-p must be greater than 0 and at most 1 (got {top_p}); "
        "for example 0.9 keeps the most likely tokens that together hold 90% of the probability.",
    )


def _check_length(length: int, option: str = "--length") -> None:
    check(length >= 0, f"{option} must be 0 or more (got {length}); it is the number of tokens to generate.")


# ----- sampling one step -------------------------------------------------------------------------


def filter_logits(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """Temperature, then top-k, then top-p (nucleus) filtering of next-token logits.

    Args:
        logits: (B, V) unnormalized scores.
        temperature: divides the logits; below 1 sharpens the distribution, above 1 flattens it.
        top_k: keep the k largest logits of each row (None: all). Ties with the k-th value are all
            kept, so a row may keep more than k tokens rather than drop one of two equal tokens
            arbitrarily.
        top_p: keep the smallest set of most likely tokens whose probability (after temperature and
            top-k) is at least p; never fewer than one token. Ties with the least likely kept token
            are kept too. p = 1 keeps every token.

    Returns:
        (B, V) float32 logits with the same softmax as the filtered distribution: the kept entries are
        the scaled logits (shifted by a per-row constant), the removed ones are -inf.
    """
    _check_sampling_args(temperature, top_k, top_p)
    logits = logits.float()
    vocab_size = logits.shape[-1]
    if temperature == 1 and (top_k is None or top_k >= vocab_size) and (top_p is None or top_p >= 1):
        return logits  # nothing to filter (softmax shifts by the maximum itself): three ops less per token
    # Subtract the row maximum before dividing. The softmax is unchanged, and a tiny temperature then
    # pushes the other logits towards -inf instead of overflowing the maximum to +inf (inf - inf = nan).
    scaled = (logits - logits.amax(dim=-1, keepdim=True)) / temperature  # (B, V)
    if top_k is not None and top_k < vocab_size:
        kth_largest = scaled.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
        scaled = scaled.masked_fill(scaled < kth_largest, -math.inf)
    if top_p is not None and top_p < 1:
        # p = 1 is skipped on purpose: rounding in the cumulative sum can reach 1.0 before the last
        # token and would drop it.
        probs = scaled.softmax(dim=-1)  # (B, V)
        sorted_probs = probs.sort(dim=-1, descending=True).values  # (B, V)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # (B, V) probability of the more likely ones
        # A token is needed while the more likely tokens hold less than p; the first one always is.
        keep_count = (mass_before < top_p).sum(dim=-1, keepdim=True).clamp(min=1)  # (B, 1)
        smallest_kept = sorted_probs.gather(-1, keep_count - 1)  # (B, 1)
        scaled = scaled.masked_fill(probs < smallest_kept, -math.inf)
    return scaled


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick the next token of each row.

    Args:
        logits: (B, V) next-token scores.
        temperature, top_k, top_p: see `filter_logits`; ignored when `greedy`.
        greedy: take the argmax (the first one on ties) instead of sampling.
        generator: random source for reproducible sampling; None uses torch's global generator.
            It must live on the same device as `logits`.

    Returns:
        (B,) int64 token ids.
    """
    if greedy:
        return logits.argmax(dim=-1)
    probs = filter_logits(logits, temperature, top_k, top_p).softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B,)


# ----- streaming generation from a model ---------------------------------------------------------


def generate(
    model: StepModel,
    prime_ids: Sequence[int],
    length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    seed: int | None = None,
    stop_ids: Sequence[int] | None = None,
    batch_size: int = 1,
    start_id: int | None = None,
) -> Iterator[int] | Iterator[torch.Tensor]:
    """Feed a prime through `model.step`, then yield up to `length` new tokens, each as soon as it exists.

    The inputs fed before sampling are `[start_id]` (when given) followed by `prime_ids`; they must not
    be empty together. A character model with no start token needs a prime of at least one token; a
    model trained with a begin-of-sequence token passes `start_id` (and may leave the prime empty).
    The prime itself is not yielded.

    Args:
        model: has `init_state(batch_size)` and `step(tokens (N,), state) -> (logits (N, V), state)`.
        prime_ids: token ids to condition on.
        length: how many tokens to generate at most (0 yields nothing).
        temperature, top_k, top_p, greedy: see `filter_logits` and `sample_next`.
        seed: seeds a private `torch.Generator`, so the same seed gives the same text and the global
            random state is left alone; None uses the global generator.
        stop_ids: stop as soon as the generated tokens (not the prime) end with this sequence. The stop
            tokens are yielded: the output ends with them.
        batch_size: number of independent samples drawn from the same prime.
        start_id: an optional begin-of-sequence token fed before the prime.

    Yields:
        batch_size == 1: one int per step.
        batch_size > 1: one (B,) int64 tensor per step, row b being sample b. With `stop_ids`, the
        stream ends once every row has produced the stop sequence; a row that finished earlier keeps
        sampling, so cut each row after its first stop sequence.

    Arguments are checked when `generate` is called (raising `UserError`), not at the first `next()`.
    """
    _check_length(length)
    if not greedy:
        _check_sampling_args(temperature, top_k, top_p)
    check(batch_size >= 1, f"--batch-size must be at least 1 (got {batch_size}); use 1 for a single sample.")
    check(
        stop_ids is None or len(stop_ids) > 0,
        "The stop sequence is empty; give a non-empty --stop or leave it out.",
    )
    inputs = ([] if start_id is None else [start_id]) + [int(token) for token in prime_ids]
    check(
        len(inputs) > 0,
        "The prime is empty and the model has no start token; give a --prime of at least one token.",
    )
    stream = _generate_rows(
        model,
        inputs,
        length,
        sampling=dict(temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy),
        seed=seed,
        stop_ids=None if stop_ids is None else [int(token) for token in stop_ids],
        batch_size=batch_size,
    )
    if batch_size == 1:
        return (int(tokens[0]) for tokens in stream)
    return stream


def _generate_rows(
    model: StepModel,
    inputs: list[int],
    length: int,
    sampling: dict,
    seed: int | None,
    stop_ids: list[int] | None,
    batch_size: int,
) -> Iterator[torch.Tensor]:
    """The generation loop behind `generate`: yields a (B,) tensor per step."""
    if length == 0:
        return
    # Pitfall: a `with torch.inference_mode():` around a `yield` would stay switched on in the
    # caller's code while this generator is suspended. So each model call gets its own short block,
    # and nothing is yielded from inside one.
    with torch.inference_mode():
        state = model.init_state(batch_size)
        device = _state_device(state, model)
        for token_id in inputs:
            tokens = torch.full((batch_size,), token_id, dtype=torch.long, device=device)  # (B,)
            logits, state = model.step(tokens, state)  # (B, V)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=logits.device)
        generator.manual_seed(seed)

    stop = None if stop_ids is None else torch.tensor(stop_ids, dtype=torch.long, device=logits.device)
    recent: list[torch.Tensor] = []  # the last len(stop) generated tokens, each (B,)
    stopped = torch.zeros(batch_size, dtype=torch.bool, device=logits.device)  # (B,)
    for position in range(length):
        with torch.inference_mode():
            next_tokens = sample_next(logits, generator=generator, **sampling)  # (B,)
        # Cloned outside inference mode: an ordinary tensor the caller may keep and use anywhere.
        yield next_tokens.clone()
        if stop is not None:
            recent = (recent + [next_tokens])[-len(stop) :]
            if len(recent) == len(stop):
                stopped |= (torch.stack(recent) == stop[:, None]).all(dim=0)  # (len(stop), B) -> (B,)
                if bool(stopped.all()):
                    return
        if position + 1 < length:  # no model call for a token nobody will sample
            with torch.inference_mode():
                logits, state = model.step(next_tokens, state)  # (B, V)


def _state_device(state: State, model: Any) -> torch.device:
    """The device of the first tensor in `state`, else of the model's parameters, else the CPU."""
    if isinstance(state, torch.Tensor):
        return state.device
    if isinstance(state, (tuple, list)):
        for part in state:
            if isinstance(part, (torch.Tensor, tuple, list)):
                return _state_device(part, model)
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        for parameter in parameters():
            return parameter.device
    return torch.device("cpu")


def sample_text(
    model: StepModel,
    vocab: TextVocabulary,
    prime: str,
    length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    seed: int | None = None,
    stop: str | None = None,
    unknown: str = "error",
    start_id: int | None = None,
) -> Iterator[str]:
    """Generate text from a prime string, yielding pieces of text as they are produced.

    The prime is encoded with `vocab.encode(prime, unknown=unknown)`, so what happens to symbols the
    vocabulary does not know ("error", "skip", "replace") is the vocabulary's decision.

    Yields:
        First `vocab.decode(prime_ids)` (the prime as the model saw it; nothing when it is empty),
        then one piece per generated token. A piece is the text that token adds after the previous
        token: `decode([previous, token])` minus `decode([previous])`, so a word-level vocabulary's
        spacing and punctuation rules come out right while each step costs O(1) (it assumes the
        spacing depends on neighbouring tokens only; otherwise it falls back to `decode([token])`).
        `"".join(pieces)` is then `vocab.decode(prime_ids + generated_ids)`.

    Args:
        stop: stop once the generated text (not the prime) contains this string; the output ends
            with the piece that completed it. Matching is on text, so a stop string may span tokens.
        start_id: an optional begin-of-sequence token fed before the prime (see `generate`).
        Others: see `generate`.

    Arguments and the prime are checked when `sample_text` is called, not at the first `next()`.
    """
    check(stop is None or stop != "", "--stop is empty; give the text to stop at, or leave it out.")
    prime_ids = list(vocab.encode(prime, unknown=unknown))
    check(
        len(prime_ids) > 0 or start_id is not None,
        f"The prime {prime!r} gives no tokens to start from; "
        "give a --prime made of symbols from the model's vocabulary.",
    )
    tokens = generate(
        model,
        prime_ids,
        length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        greedy=greedy,
        seed=seed,
        start_id=start_id,
    )
    return _text_pieces(vocab, prime_ids, tokens, stop)


def _text_pieces(
    vocab: TextVocabulary, prime_ids: list[int], tokens: Iterator[int], stop: str | None
) -> Iterator[str]:
    if prime_ids:
        yield vocab.decode(prime_ids)
    previous = prime_ids[-1] if prime_ids else None
    tail = ""  # the last len(stop) - 1 generated characters: a stop string may begin there
    try:
        for token in tokens:
            piece = _token_text(vocab, previous, token)
            yield piece
            previous = token
            if stop is not None:
                tail += piece
                if stop in tail:
                    return
                tail = tail[max(0, len(tail) - len(stop) + 1) :]
    finally:
        tokens.close()  # stop the model loop now rather than whenever it is garbage-collected


def _token_text(vocab: TextVocabulary, previous: int | None, token: int) -> str:
    """The text `token` adds after `previous` (see `sample_text`)."""
    if previous is None:
        return vocab.decode([token])
    before = vocab.decode([previous])
    both = vocab.decode([previous, token])
    if both.startswith(before):
        return both[len(before) :]
    return vocab.decode([token])


# ----- decoding: greedy and beam search ----------------------------------------------------------


def select_state_rows(state: State, index: torch.Tensor) -> State:
    """Pick rows of a recurrent state: `index_select` along dimension 1 of every tensor.

    This is the default `reorder_state` of `beam_search`: it matches the PyTorch RNN layout
    (layers, N, H) for tensors and (nested) tuples or lists of them, e.g. an LSTM's `(h, c)`. A state
    that also carries batch-first tensors (an attention memory (N, S, H)) needs its own function.

    Args:
        state: tensor, None, or (nested) tuple/list (named tuples included) of those.
        index: (M,) int64 row indices; rows may repeat.
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(1, index)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a named tuple
        return type(state)(*(select_state_rows(part, index) for part in state))
    if isinstance(state, (tuple, list)):
        return type(state)(select_state_rows(part, index) for part in state)
    raise TypeError(f"Cannot reorder a state of type {type(state).__name__}; pass reorder_state.")


def length_penalty_factor(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + length) / 6) ** alpha; scores are divided by it. alpha = 0: none.

    Log-probabilities only fall as a hypothesis grows, so unnormalized beam search prefers short
    outputs; alpha > 0 divides longer hypotheses' (negative) scores by more, which favours them.
    """
    return ((5 + length) / 6) ** alpha


def greedy_decode(
    step_fn: StepFn,
    init_state: State,
    start_tokens: torch.Tensor,
    max_length: int,
    eos_id: int | None = None,
    *,
    length_penalty: float = 0.0,
) -> Hypotheses:
    """Argmax decoding of B inputs at once; the same result format as `beam_search`.

    Args:
        step_fn: `step_fn(tokens (B,), state) -> (logits (B, V), state)`.
        init_state: the state before the first step, batch on dimension 1 of every tensor.
        start_tokens: (B,) the first input token of each row (not part of the output).
        max_length: at most this many tokens per row, eos included.
        eos_id: a row that produces it is finished (eos is the last output token).
        length_penalty: alpha of `length_penalty_factor`; only rescales the reported score.

    Returns:
        For each of the B inputs a list with one `(tokens, score)`, score being the summed
        log-probability divided by the length penalty. With length_penalty = 0 this is exactly
        `beam_search(..., beam_size=1)`.
    """
    _check_length(max_length, "--max-length")
    check(start_tokens.dim() == 1, f"start_tokens must be 1-D (B,), got shape {tuple(start_tokens.shape)}.")
    batch = start_tokens.shape[0]
    outputs: list[list[int]] = [[] for _ in range(batch)]
    finished = [False] * batch
    scores = torch.zeros(batch, device=start_tokens.device)  # (B,) summed log-probabilities
    tokens, state = start_tokens, init_state
    with torch.inference_mode():
        for _ in range(max_length):
            logits, state = step_fn(tokens, state)  # (B, V)
            # The same float32 arithmetic as beam search (score + log p, then the best), so that
            # beam_size = 1 reproduces greedy decoding bit for bit, even on near-ties.
            candidates = scores[:, None] + F.log_softmax(logits.float(), dim=-1)  # (B, V)
            tokens = candidates.argmax(dim=-1)  # (B,)
            live = torch.tensor([not done for done in finished], device=scores.device)  # (B,)
            scores = torch.where(live, candidates.gather(1, tokens[:, None]).squeeze(1), scores)
            for row, token in enumerate(tokens.tolist()):
                if not finished[row]:
                    outputs[row].append(token)
                    finished[row] = token == eos_id
            if all(finished):
                break
    return [
        [(outputs[row], scores[row].item() / length_penalty_factor(len(outputs[row]), length_penalty))]
        for row in range(batch)
    ]


def beam_search(
    step_fn: StepFn,
    init_state: State,
    start_tokens: torch.Tensor,
    beam_size: int,
    max_length: int,
    *,
    eos_id: int | None = None,
    length_penalty: float = 0.0,
    reorder_state: ReorderFn | None = None,
) -> Hypotheses:
    """Batched beam search: B independent inputs, K beams each, B*K rows through `step_fn` per step.

    Each step extends every live hypothesis by every token, scoring it by the summed log-softmax.
    Of the best 2K candidates of an input, those ending in `eos_id` that rank in the top K are
    finished (their score is final); the best K others stay live. An input is done when it has K
    finished hypotheses and no live one can still beat the worst of them (scores only fall, so
    the bound is exact); the search stops when all are done or after `max_length` steps, and then
    live hypotheses of length `max_length` compete with the finished ones.

    Ranking uses score / ((5 + length) / 6) ** length_penalty (GNMT; length counts eos). Ties go to
    the lower (beam, token) index, as argmax does, so `beam_size=1` with `length_penalty=0` equals
    `greedy_decode` exactly. On the first step only beam 0 of each input is live (the copies start
    at -inf), so no input returns the same hypothesis twice.

    Args:
        step_fn: `step_fn(tokens (N,), state) -> (logits (N, V), state)` with N = B*K.
        init_state: the state for the B inputs; it is expanded to B*K rows (row b*K + k is beam k of
            input b) with `reorder_state`.
        start_tokens: (B,) the first input token of each input; not part of the output.
        beam_size: K, live hypotheses kept per input (and hypotheses returned at most).
        max_length: at most this many output tokens per hypothesis, eos included.
        eos_id: the end token; None: every hypothesis runs `max_length` steps.
        length_penalty: alpha above; 0 ranks by summed log-probability.
        reorder_state: `reorder_state(state, index (M,)) -> state` picking rows `index`;
            default `select_state_rows` (dimension 1 of every tensor).

    Returns:
        For each input, up to K `(tokens, score)` pairs sorted best first: tokens exclude the start
        token and end with `eos_id` when the hypothesis finished; score is the length-normalized
        log-probability used for ranking. max_length = 0 gives `[([], 0.0)]` per input.
    """
    check(beam_size >= 1, f"--beam-size must be at least 1 (got {beam_size}); use 1 for greedy decoding.")
    _check_length(max_length, "--max-length")
    check(start_tokens.dim() == 1, f"start_tokens must be 1-D (B,), got shape {tuple(start_tokens.shape)}.")
    reorder = reorder_state if reorder_state is not None else select_state_rows
    with torch.inference_mode():
        return _beam_search(
            step_fn, init_state, start_tokens, beam_size, max_length, eos_id, length_penalty, reorder
        )


def _beam_search(
    step_fn: StepFn,
    init_state: State,
    start_tokens: torch.Tensor,
    beam_size: int,
    max_length: int,
    eos_id: int | None,
    alpha: float,
    reorder: ReorderFn,
) -> Hypotheses:
    batch, K, device = start_tokens.shape[0], beam_size, start_tokens.device
    if max_length == 0:
        return [[([], 0.0)] for _ in range(batch)]
    inputs = torch.arange(batch, device=device)  # (B,)
    state = reorder(init_state, inputs.repeat_interleave(K))  # every input copied to its K rows
    tokens = start_tokens.repeat_interleave(K)  # (B*K,)
    # Only beam 0 starts live. With K equal copies all at 0, the first step would pick the same
    # continuation K times and the beam would hold duplicates.
    scores = torch.full((batch, K), -math.inf, device=device)  # (B, K) summed log-probabilities
    scores[:, 0] = 0.0
    history = torch.zeros((batch, K, 0), dtype=torch.long, device=device)  # (B, K, t) tokens so far
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]  # (score, tokens), best first
    done = [False] * batch

    for length in range(1, max_length + 1):  # hypotheses are `length` tokens long after this step
        logits, state = step_fn(tokens, state)  # (B*K, V)
        vocab_size = logits.shape[-1]
        log_probs = F.log_softmax(logits.float(), dim=-1).view(batch, K, vocab_size)  # (B, K, V)
        candidates = (scores[:, :, None] + log_probs).view(batch, K * vocab_size)  # (B, K*V)
        # A stable sort, not topk: ties keep index order, like argmax (topk's tie order is unspecified).
        count = min(2 * K, K * vocab_size)  # at most K candidates end in eos, so K others remain
        cand_scores, cand_index = candidates.sort(dim=-1, descending=True, stable=True)
        cand_scores, cand_index = cand_scores[:, :count], cand_index[:, :count]  # (B, 2K)
        cand_beam = cand_index // vocab_size  # (B, 2K) the beam each candidate extends
        cand_token = cand_index % vocab_size  # (B, 2K)
        if eos_id is None:
            is_eos = torch.zeros_like(cand_token, dtype=torch.bool)
        else:
            is_eos = cand_token == eos_id
            # Candidates ending in eos finish, but only when they rank in the top K: that keeps
            # beam_size = 1 identical to greedy decoding.
            new_finished = is_eos[:, :K] & torch.isfinite(cand_scores[:, :K])  # (B, K)
            penalty = length_penalty_factor(length, alpha)
            for row, rank in new_finished.nonzero().tolist():
                if done[row]:
                    continue
                prefix = history[row, cand_beam[row, rank]].tolist()
                finished[row].append((cand_scores[row, rank].item() / penalty, prefix + [eos_id]))
            for row in range(batch):
                finished[row] = sorted(finished[row], key=lambda hyp: hyp[0], reverse=True)[:K]

        # The first K candidates not ending in eos become the live beams, in score order. Sorting
        # by position + count*is_eos puts them first; if fewer than K exist they are padded with
        # eos candidates marked dead (-inf), which only happens when V is tiny.
        positions = torch.arange(count, device=device).expand(batch, count)  # (B, 2K)
        live_position = (positions + count * is_eos.long()).argsort(dim=-1)[:, :K]  # (B, K)
        scores = cand_scores.gather(1, live_position)  # (B, K)
        scores = scores.masked_fill(is_eos.gather(1, live_position), -math.inf)
        parent = cand_beam.gather(1, live_position)  # (B, K)
        new_token = cand_token.gather(1, live_position)  # (B, K)
        prefixes = history.gather(1, parent[:, :, None].expand(-1, -1, length - 1))  # (B, K, t-1)
        history = torch.cat([prefixes, new_token[:, :, None]], dim=2)  # (B, K, t)
        tokens = new_token.reshape(-1)  # (B*K,)
        state = reorder(state, (inputs[:, None] * K + parent).reshape(-1))  # rows follow their parents

        if eos_id is not None:
            for row in range(batch):
                done[row] = done[row] or _cannot_improve(
                    finished[row], scores[row, 0].item(), K, length, max_length, alpha
                )
            if all(done):
                break

    results: Hypotheses = []
    for row in range(batch):
        hypotheses = list(finished[row])
        if not done[row]:  # the search ran out of steps: live hypotheses compete too
            penalty = length_penalty_factor(history.shape[2], alpha)
            for beam in range(K):
                score = scores[row, beam].item()
                if score > -math.inf:
                    hypotheses.append((score / penalty, history[row, beam].tolist()))
        hypotheses.sort(key=lambda hyp: hyp[0], reverse=True)  # stable: finished first on ties
        results.append([(tokens, score) for score, tokens in hypotheses[:K]])
    return results


def _cannot_improve(
    finished: list[tuple[float, list[int]]],
    best_live: float,
    beam_size: int,
    length: int,
    max_length: int,
    alpha: float,
) -> bool:
    """Whether no live hypothesis (best raw score `best_live`, `length` tokens) can enter the top K.

    A descendant's raw score s' <= best_live <= 0, and its length lies in [length, max_length], so its
    normalized score is at most best_live / (the largest penalty over that range, at one end since the
    penalty is monotonic in the length).
    """
    if len(finished) < beam_size:
        return False
    if best_live == -math.inf:
        return True
    largest_penalty = max(length_penalty_factor(length, alpha), length_penalty_factor(max_length, alpha))
    return best_live / largest_penalty <= finished[-1][0]
