"""Tests for rnnlab.generate: filtering, sampling, streaming generation, greedy and beam decoding.

The models here are tiny fakes of the step protocol (a bigram table, a table indexed by the whole
history), so every expected result can be worked out by hand or by brute-force enumeration.
"""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.errors import UserError
from rnnlab.generate import (
    beam_search,
    filter_logits,
    generate,
    greedy_decode,
    length_penalty_factor,
    sample_next,
    sample_text,
    select_state_rows,
)

# ----- fakes -------------------------------------------------------------------------------------


class BigramModel:
    """Next-token logits depend on the current token only: logits = table[token]. Records each step."""

    def __init__(self, table: torch.Tensor):
        self.table = table  # (V, V)
        self.calls: list[tuple[list[int], bool]] = []  # (tokens, inference mode on?)

    def init_state(self, batch_size):
        return (torch.zeros(1, batch_size, 2), torch.zeros(1, batch_size, 2))

    def step(self, tokens, state):
        self.calls.append((tokens.tolist(), torch.is_inference_mode_enabled()))
        assert tokens.shape == state[0].shape[1:2]
        return self.table[tokens], state


def cycle_table(vocab_size: int, confidence: float = 5.0) -> torch.Tensor:
    """A bigram table whose argmax after token i is i + 1 (mod V)."""
    table = torch.zeros(vocab_size, vocab_size)
    for token in range(vocab_size):
        table[token, (token + 1) % vocab_size] = confidence
    return table


def random_table(vocab_size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(vocab_size, vocab_size, generator=torch.Generator().manual_seed(seed))


class CharVocab:
    """Stand-in for rnnlab.data.vocab.Vocabulary at char level; records the `unknown` mode it was given."""

    def __init__(self, chars: str):
        self.chars = chars
        self.index = {char: i for i, char in enumerate(chars)}
        self.unknown_modes: list[str] = []

    def __len__(self):
        return len(self.chars)

    def encode(self, text, unknown="error"):
        self.unknown_modes.append(unknown)
        if unknown == "error" and any(char not in self.index for char in text):
            raise UserError("The prime contains characters not in the vocabulary. Use --unknown skip.")
        return [self.index[char] for char in text if char in self.index]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


class WordVocab:
    """Word-level stand-in: words joined by single spaces, no space before "."."""

    def __init__(self, words):
        self.words = list(words)
        self.index = {word: i for i, word in enumerate(self.words)}

    def __len__(self):
        return len(self.words)

    def encode(self, text, unknown="error"):
        return [self.index[word] for word in text.replace(".", " .").split()]

    def decode(self, ids):
        text = ""
        for i in ids:
            word = self.words[i]
            text += word if not text or word == "." else " " + word
        return text


class HistoryModel:
    """Next-token logits depend on the whole history, so greedy and beam search disagree.

    The state is a nested tuple `(code (1, N), (copy (2, N, 1),))`: `code` numbers the history fed so
    far; `copy` holds the same number as float, and `step` checks both were reordered alike.
    """

    def __init__(self, vocab_size: int, seed: int = 0, table_size: int = 4099):
        self.vocab_size = vocab_size
        generator = torch.Generator().manual_seed(seed)
        self.table = 3 * torch.randn(table_size, vocab_size, generator=generator)  # (M, V)
        self.step_calls = 0
        self.rows_seen: list[int] = []

    def init_state(self, batch_size):
        code = torch.zeros(1, batch_size, dtype=torch.long)
        return (code, (code[:, :, None].double().expand(2, -1, 1).clone(),))

    def step(self, tokens, state):
        code, (copy,) = state
        assert torch.equal(copy[0, :, 0].long(), code[0]) and torch.equal(copy[1], copy[0])
        self.step_calls += 1
        self.rows_seen.append(tokens.shape[0])
        code = code * (self.vocab_size + 1) + tokens[None, :] + 1  # (1, N) base-(V+1) history number
        logits = self.table[code[0] % self.table.shape[0]]  # (N, V)
        return logits, (code, (code[:, :, None].double().expand(2, -1, 1).clone(),))


def brute_force(model, start_token, max_length, eos_id=None, alpha=0.0):
    """Every output sequence (ending at eos or at max_length) with its normalized score, best first.

    Scores are summed in float64 from the model's float32 log-probabilities, one sequence at a time.
    """
    results = []

    def extend(tokens, fed, state, score):
        if tokens and (tokens[-1] == eos_id or len(tokens) == max_length):
            results.append((tokens, score / length_penalty_factor(len(tokens), alpha)))
            return
        logits, state = model.step(torch.tensor([fed]), state)
        log_probs = F.log_softmax(logits.float(), dim=-1)[0]
        for token in range(model.vocab_size):
            extend(tokens + [token], token, state, score + log_probs[token].item())

    extend([], start_token, model.init_state(1), 0.0)
    return sorted(results, key=lambda result: result[1], reverse=True)


def run_beam(model, start_tokens, beam_size, max_length, **kwargs):
    start = torch.tensor(start_tokens)
    return beam_search(
        model.step, model.init_state(len(start_tokens)), start, beam_size, max_length, **kwargs
    )


def run_greedy(model, start_tokens, max_length, **kwargs):
    start = torch.tensor(start_tokens)
    return greedy_decode(model.step, model.init_state(len(start_tokens)), start, max_length, **kwargs)


# ----- filter_logits and sample_next -------------------------------------------------------------


def kept(filtered: torch.Tensor) -> list[list[int]]:
    return [torch.isfinite(row).nonzero().flatten().tolist() for row in filtered]


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.0, 0.5], [5.0, 4.0, 3.0, 2.0, 1.0]])
    assert kept(filter_logits(logits, top_k=2)) == [[1, 3], [0, 1]]
    assert kept(filter_logits(logits, top_k=1)) == [[1], [0]]
    assert kept(filter_logits(logits, top_k=5)) == [[0, 1, 2, 3, 4]] * 2
    assert kept(filter_logits(logits, top_k=50)) == [[0, 1, 2, 3, 4]] * 2


def test_top_k_keeps_ties_at_the_boundary():
    logits = torch.tensor([[1.0, 2.0, 2.0, 0.0]])
    assert kept(filter_logits(logits, top_k=1)) == [[1, 2]]
    assert kept(filter_logits(logits, top_k=2)) == [[1, 2]]


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.tensor([[0.3, 0.6, 0.1]]).log()  # probabilities 0.3, 0.6, 0.1
    assert kept(filter_logits(logits, top_p=0.5)) == [[1]]
    assert kept(filter_logits(logits, top_p=0.7)) == [[0, 1]]
    assert kept(filter_logits(logits, top_p=0.95)) == [[0, 1, 2]]


def test_top_p_one_keeps_everything_even_negligible_tokens():
    logits = torch.tensor([[30.0, 0.0, -10.0, -40.0], [0.0, 0.0, 0.0, 0.0]])
    assert kept(filter_logits(logits, top_p=1.0)) == [[0, 1, 2, 3]] * 2


def test_tiny_top_p_keeps_only_the_argmax_and_its_ties():
    logits = torch.tensor([[0.2, 1.5, -0.3, 1.4], [2.0, 0.0, 2.0, 1.0]])
    assert kept(filter_logits(logits, top_p=1e-6)) == [[1], [0, 2]]


def test_top_k_then_top_p_work_on_the_renormalized_distribution():
    # Top-k 3 leaves (0.3, 0.25, 0.25) / 0.8 = (0.375, 0.3125, 0.3125): p = 0.5 needs a second token,
    # and tokens 2 and 3 tie for it, so both stay.
    logits = torch.tensor([[0.3, 0.2, 0.25, 0.25]]).log()
    assert kept(filter_logits(logits, top_k=1, top_p=1.0)) == [[0]]
    assert kept(filter_logits(logits, top_k=3, top_p=0.5)) == [[0, 2, 3]]


def test_temperature_scales_the_distribution():
    logits = torch.tensor([[1.0, 2.0, -0.5, 0.0]])
    for temperature in (0.5, 1.0, 3.0):
        expected = (logits / temperature).softmax(-1)
        actual = filter_logits(logits, temperature=temperature).softmax(-1)
        torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-7)


def test_tiny_temperature_is_argmax_without_nans():
    logits = torch.randn(16, 11, generator=torch.Generator().manual_seed(3)) * 5
    for temperature in (1e-3, 1e-30):
        filtered = filter_logits(logits, temperature=temperature)
        assert not torch.isnan(filtered).any()
        samples = sample_next(logits, temperature=temperature, generator=torch.Generator().manual_seed(0))
        assert torch.equal(samples, logits.argmax(-1))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    vocab_size=st.integers(1, 12),
    top_p=st.floats(0.01, 1.0),
    temperature=st.floats(0.2, 5.0),
)
def test_top_p_properties(seed, vocab_size, top_p, temperature):
    logits = torch.randn(3, vocab_size, generator=torch.Generator().manual_seed(seed)) * 3
    filtered = filter_logits(logits, temperature=temperature, top_p=top_p)
    probs = (logits / temperature).softmax(-1)
    keep = torch.isfinite(filtered)
    assert keep.gather(1, logits.argmax(-1, keepdim=True)).all()  # the argmax always survives
    assert ((probs * keep).sum(-1) >= top_p - 1e-5).all()  # enough mass is kept
    for row in range(3):  # and it is the most likely tokens that are kept
        if (~keep[row]).any():
            assert probs[row][keep[row]].min() >= probs[row][~keep[row]].max()


def test_sample_next_follows_the_filtered_distribution():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log().expand(20_000, 4)
    generator = torch.Generator().manual_seed(1)
    frequencies = torch.bincount(sample_next(logits, generator=generator), minlength=4) / 20_000
    torch.testing.assert_close(frequencies, probs, atol=0.015, rtol=0)
    top2 = torch.bincount(sample_next(logits, top_k=2, generator=generator), minlength=4) / 20_000
    assert top2[2:].sum() == 0
    torch.testing.assert_close(top2[:2], torch.tensor([0.625, 0.375]), atol=0.015, rtol=0)


def test_sample_next_greedy_and_seeds():
    logits = torch.randn(8, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample_next(logits, greedy=True), logits.argmax(-1))
    first = sample_next(logits, generator=torch.Generator().manual_seed(7))
    again = sample_next(logits, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, again)


@pytest.mark.parametrize(
    "kwargs, option",
    [
        (dict(temperature=0.0), "--temperature"),
        (dict(temperature=-1.0), "--temperature"),
        (dict(temperature=math.nan), "--temperature"),
        (dict(top_k=0), "--top-k"),
        (dict(top_p=0.0), "--top-p"),
        (dict(top_p=1.5), "--top-p"),
    ],
)
def test_invalid_sampling_arguments_are_user_errors(kwargs, option):
    with pytest.raises(UserError) as error:
        filter_logits(torch.zeros(1, 3), **kwargs)
    message = str(error.value)
    assert message.startswith(option) and message.endswith(".") and "\n" not in message
    with pytest.raises(UserError, match=option):
        generate(BigramModel(cycle_table(3)), [0], 5, **kwargs)


def test_temperature_zero_message_points_to_greedy():
    with pytest.raises(UserError, match=r"greater than 0 \(got 0\); use --greedy"):
        filter_logits(torch.zeros(1, 3), temperature=0)


# ----- generate ----------------------------------------------------------------------------------


def test_generate_greedy_follows_the_argmax_chain():
    model = BigramModel(cycle_table(5))
    assert list(generate(model, [3], 7, greedy=True)) == [4, 0, 1, 2, 3, 4, 0]


def test_generate_feeds_the_prime_then_each_sample_once():
    model = BigramModel(random_table(6))
    tokens = list(generate(model, [2, 5, 1], 4, seed=0))
    fed = [call[0][0] for call in model.calls]
    # The prime is fed in order, then every sampled token but the last (nothing would use its output).
    assert fed == [2, 5, 1] + tokens[:-1]
    assert all(inference for _, inference in model.calls)


def test_generate_streams_and_leaves_inference_mode_off_between_tokens():
    model = BigramModel(cycle_table(4))
    stream = generate(model, [0, 1], 100, seed=0)
    assert model.calls == []  # lazy: nothing runs before the first token is asked for
    next(stream)
    assert len(model.calls) == 2  # just the prime
    assert not torch.is_inference_mode_enabled()
    next(stream)
    assert len(model.calls) == 3


def test_seed_reproduces_and_leaves_global_rng_alone():
    model = BigramModel(random_table(8, seed=1))
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = list(generate(model, [0], 40, seed=5, temperature=1.5))
    assert torch.equal(torch.get_rng_state(), before)
    assert list(generate(model, [0], 40, seed=5, temperature=1.5)) == first
    assert list(generate(model, [0], 40, seed=6, temperature=1.5)) != first


def test_tiny_temperature_generates_like_greedy():
    model = BigramModel(random_table(7, seed=2))
    greedy = list(generate(model, [1], 20, greedy=True))
    assert list(generate(model, [1], 20, temperature=1e-4, seed=0)) == greedy
    assert list(generate(model, [1], 20, top_k=1, seed=3)) == greedy


def test_generate_stops_after_the_stop_sequence():
    model = BigramModel(cycle_table(5))
    assert list(generate(model, [0], 20, greedy=True, stop_ids=[2, 3])) == [1, 2, 3]
    # Only generated tokens count: a prime that ends with the stop sequence does not stop at once.
    assert list(generate(model, [2, 3], 4, greedy=True, stop_ids=[2, 3])) == [4, 0, 1, 2]
    assert list(generate(model, [2, 3], 20, greedy=True, stop_ids=[2, 3])) == [4, 0, 1, 2, 3]


def test_generate_empty_prime_needs_a_start_token():
    model = BigramModel(cycle_table(4))
    with pytest.raises(UserError, match="--prime"):
        generate(model, [], 3)  # raised at the call, not at the first next()
    assert list(generate(model, [], 3, greedy=True, start_id=2)) == [3, 0, 1]
    assert list(generate(model, [0], 2, greedy=True, start_id=2)) == [1, 2]
    assert [call[0][0] for call in model.calls[-3:-1]] == [2, 0]  # start token first, then the prime


def test_generate_length_zero_and_negative():
    model = BigramModel(cycle_table(4))
    assert list(generate(model, [1], 0)) == []
    assert model.calls == []
    with pytest.raises(UserError, match="--length must be 0 or more"):
        generate(model, [1], -1)


def test_generate_batch_yields_rows():
    model = BigramModel(random_table(6, seed=4))
    steps = list(generate(model, [1, 2], 12, seed=0, batch_size=3))
    assert len(steps) == 12 and all(step.shape == (3,) and step.dtype == torch.long for step in steps)
    assert not steps[0].is_inference()
    assert all(len(call[0]) == 3 for call in model.calls)
    rows = torch.stack(steps, dim=1)  # (B, T)
    assert len({tuple(row.tolist()) for row in rows}) > 1  # independent samples
    greedy = torch.stack(list(generate(model, [1, 2], 5, greedy=True, batch_size=3)), dim=1)
    assert all(row.tolist() == list(generate(model, [1, 2], 5, greedy=True)) for row in greedy)


def test_generate_batch_stops_when_every_row_has_stopped():
    model = BigramModel(cycle_table(4))
    steps = list(generate(model, [0], 10, greedy=True, batch_size=2, stop_ids=[2]))
    assert [step.tolist() for step in steps] == [[1, 1], [2, 2]]


# ----- sample_text -------------------------------------------------------------------------------


def test_sample_text_yields_prime_then_characters():
    vocab = CharVocab("abcde")
    model = BigramModel(cycle_table(5))
    pieces = list(sample_text(model, vocab, "ab", 6, greedy=True))
    assert pieces == ["ab", "c", "d", "e", "a", "b", "c"]


def test_sample_text_matches_generate():
    vocab = CharVocab("abcdefg")
    model = BigramModel(random_table(7, seed=5))
    pieces = list(sample_text(model, vocab, "fab", 30, seed=9, top_p=0.9))
    tokens = list(generate(model, vocab.encode("fab"), 30, seed=9, top_p=0.9))
    assert pieces[0] == "fab" and "".join(pieces[1:]) == vocab.decode(tokens)


def test_sample_text_stop_string():
    vocab = CharVocab("abcde")
    model = BigramModel(cycle_table(5))
    assert "".join(sample_text(model, vocab, "a", 50, greedy=True, stop="de")) == "abcde"
    assert "".join(sample_text(model, vocab, "a", 50, greedy=True, stop="b")) == "ab"
    # The prime does not count.
    assert "".join(sample_text(model, vocab, "de", 50, greedy=True, stop="de")) == "deabcde"
    with pytest.raises(UserError, match="--stop"):
        sample_text(model, vocab, "a", 5, stop="")


def test_sample_text_word_level_spacing_and_multi_token_stop():
    vocab = WordVocab(["the", "cat", "sat", "."])
    model = BigramModel(cycle_table(4))
    pieces = list(sample_text(model, vocab, "the cat", 5, greedy=True))
    assert pieces == ["the cat", " sat", ".", " the", " cat", " sat"]
    assert "".join(pieces) == vocab.decode(vocab.encode("the cat") + [2, 3, 0, 1, 2])
    # A stop string that spans two tokens.
    assert "".join(sample_text(model, vocab, "the", 20, greedy=True, stop=". the")) == "the cat sat. the"


def test_sample_text_delegates_unknown_prime_handling_to_the_vocabulary():
    vocab = CharVocab("abcde")
    model = BigramModel(cycle_table(5))
    with pytest.raises(UserError, match="not in the vocabulary"):
        sample_text(model, vocab, "axb", 3)  # raised at the call
    assert vocab.unknown_modes == ["error"]
    pieces = list(sample_text(model, vocab, "axb", 2, greedy=True, unknown="skip"))
    assert vocab.unknown_modes[-1] == "skip"
    assert pieces == ["ab", "c", "d"]
    with pytest.raises(UserError, match="no tokens"):
        sample_text(model, vocab, "xyz", 3, unknown="skip")


def test_sample_text_empty_prime_with_start_token():
    vocab = CharVocab("abcde")
    model = BigramModel(cycle_table(5))
    assert list(sample_text(model, vocab, "", 3, greedy=True, start_id=0)) == ["b", "c", "d"]


# ----- greedy and beam search --------------------------------------------------------------------


def test_brute_force_case_has_greedy_different_from_best():
    # The premise of the beam tests below: on this model greedy decoding is not optimal.
    model = HistoryModel(vocab_size=3, seed=0)
    best_tokens, best_score = brute_force(model, 0, 4)[0]
    ((greedy_tokens, greedy_score),) = run_greedy(model, [0], 4)[0]
    assert greedy_tokens != best_tokens and greedy_score < best_score - 1e-3


@pytest.mark.parametrize(
    "vocab_size, max_length, eos_id, alpha",
    [(3, 4, None, 0.0), (4, 3, None, 0.0), (3, 4, 0, 0.0), (4, 3, 1, 0.0), (3, 4, 0, 1.0), (4, 3, 2, 2.5)],
)
def test_exhaustive_beam_search_equals_brute_force(vocab_size, max_length, eos_id, alpha):
    model = HistoryModel(vocab_size, seed=vocab_size * 10 + max_length)
    expected = brute_force(model, 1, max_length, eos_id, alpha)
    scores = [score for _, score in expected]
    assert all(a - b > 1e-5 for a, b in zip(scores, scores[1:])), "the case has near-ties; pick another seed"
    # K = V**T keeps every prefix alive, so the beam enumerates all sequences.
    (result,) = run_beam(model, [1], vocab_size**max_length, max_length, eos_id=eos_id, length_penalty=alpha)
    assert [tokens for tokens, _ in result] == [tokens for tokens, _ in expected]
    assert [score for _, score in result] == pytest.approx(scores, abs=1e-5)
    if eos_id is not None:
        for tokens, _ in result:
            assert eos_id not in tokens[:-1] and (tokens[-1] == eos_id or len(tokens) == max_length)


@pytest.mark.parametrize("eos_id", [None, 0, 2])
def test_beam_size_one_is_greedy_exactly(eos_id):
    for seed in range(5):
        model = HistoryModel(vocab_size=4, seed=seed)
        starts = [0, 1, 2, 3, 1]
        greedy = run_greedy(model, starts, 6, eos_id=eos_id)
        beam = run_beam(model, starts, 1, 6, eos_id=eos_id)
        assert beam == greedy  # tokens and float scores, bit for bit


def test_batched_beam_search_equals_one_input_at_a_time():
    model = HistoryModel(vocab_size=4, seed=7)
    starts = [0, 3, 1, 3]
    batched = run_beam(model, starts, 3, 5, eos_id=2, length_penalty=0.6)
    assert model.rows_seen[0] == 4 * 3  # B*K rows in one call per step
    alone = [run_beam(model, [start], 3, 5, eos_id=2, length_penalty=0.6)[0] for start in starts]
    assert batched == alone


def test_beam_search_returns_no_duplicates():
    # V=2, length 2: only 4 sequences exist, fewer than the beam; each comes back once.
    model = HistoryModel(vocab_size=2, seed=1)
    (result,) = run_beam(model, [0], 8, 2)
    assert sorted(tokens for tokens, _ in result) == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert all(math.isfinite(score) for _, score in result)
    (result,) = run_beam(model, [0], 3, 3)
    assert len(result) == 3 and len({tuple(tokens) for tokens, _ in result}) == 3


class TableStepModel:
    """Next-token probabilities from a dict keyed by the history (tuple of output tokens)."""

    def __init__(self, table, vocab_size):
        self.table, self.vocab_size = table, vocab_size

    def init_state(self, batch_size):
        return torch.zeros(1, batch_size, 0, dtype=torch.long)  # (1, N, t) the tokens fed so far

    def step(self, tokens, state):
        fed = torch.cat([state, tokens[None, :, None]], dim=2)  # (1, N, t+1) the start token, then outputs
        histories = [tuple(row[1:]) for row in fed[0].tolist()]
        uniform = [1 / self.vocab_size] * self.vocab_size
        logits = torch.tensor([self.table.get(history, uniform) for history in histories]).log()  # (N, V)
        return logits, fed


def test_length_penalty_changes_the_ranking():
    eos, a = 0, 1
    table = {
        (): [0.5, 0.45, 0.05],  # stop now (log 0.5 = -0.69) ...
        (a,): [0.05, 0.9, 0.05],
        (a, a): [0.9, 0.05, 0.05],  # ... or say "a a" first (log 0.45*0.9*0.9 = -1.01)
    }
    model = TableStepModel(table, 3)
    short_score = math.log(0.5)
    long_score = math.log(0.45) + 2 * math.log(0.9)
    (plain,) = run_beam(model, [a], 3, 4, eos_id=eos)
    assert plain[0][0] == [eos] and plain[0][1] == pytest.approx(short_score, abs=1e-6)
    assert plain[1][0] == [a, a, eos]
    (penalized,) = run_beam(model, [a], 3, 4, eos_id=eos, length_penalty=2.0)
    assert [tokens for tokens, _ in penalized[:2]] == [[a, a, eos], [eos]]
    assert penalized[0][1] == pytest.approx(long_score / (8 / 6) ** 2, abs=1e-6)
    assert penalized[1][1] == pytest.approx(short_score, abs=1e-6)
    # Even one beam must not stop once [eos] finishes: "a" is behind now, but after two more tokens
    # its larger penalty puts it ahead, so the stopping bound has to use the longest possible length.
    (single,) = run_beam(model, [a], 1, 4, eos_id=eos, length_penalty=2.0)
    assert single == [([a, a, eos], pytest.approx(long_score / (8 / 6) ** 2, abs=1e-6))]


def test_eos_finishes_hypotheses_and_search_stops_early():
    # After "a" eos is certain-ish, so both beams finish by step 2 and the search stops.
    eos, a = 0, 1
    table = {(): [0.1, 0.6, 0.3], (a,): [0.98, 0.01, 0.01], (2,): [0.97, 0.02, 0.01]}
    model = TableStepModel(table, 3)
    calls = []

    def step(tokens, state):
        calls.append(tokens.shape[0])
        return model.step(tokens, state)

    (result,) = beam_search(step, model.init_state(1), torch.tensor([a]), 2, 10, eos_id=eos)
    assert [tokens for tokens, _ in result] == [[a, eos], [2, eos]]
    assert result[0][1] == pytest.approx(math.log(0.6 * 0.98), abs=1e-6)
    assert len(calls) == 2


def test_custom_reorder_state_is_used():
    model = HistoryModel(vocab_size=3, seed=2)
    indices = []

    def reorder(state, index):
        indices.append(index.tolist())
        return select_state_rows(state, index)

    start = torch.tensor([1, 2])
    result = beam_search(model.step, model.init_state(2), start, 2, 3, reorder_state=reorder)
    assert indices[0] == [0, 0, 1, 1]  # expansion to beam rows: row b*K + k
    assert len(indices) == 4  # the expansion, then once per step
    assert result == run_beam(model, [1, 2], 2, 3)


def test_select_state_rows_handles_nested_and_named_tuples():
    from collections import namedtuple

    Pair = namedtuple("Pair", "h c")
    h = torch.arange(6.0).view(1, 3, 2)
    state = (Pair(h, h + 10), [h * 2], None)
    picked = select_state_rows(state, torch.tensor([2, 0, 0]))
    assert isinstance(picked[0], Pair) and isinstance(picked[1], list) and picked[2] is None
    assert picked[0].c[0, :, 0].tolist() == [14.0, 10.0, 10.0]
    assert picked[1][0][0, :, 1].tolist() == [10.0, 2.0, 2.0]


def test_decoding_arguments():
    model = HistoryModel(vocab_size=3)
    with pytest.raises(UserError, match="--beam-size must be at least 1"):
        run_beam(model, [0], 0, 3)
    with pytest.raises(UserError, match="--max-length"):
        run_beam(model, [0], 2, -1)
    assert run_beam(model, [0, 1], 2, 0) == [[([], 0.0)], [([], 0.0)]]
    assert run_greedy(model, [0, 1], 0) == [[([], 0.0)], [([], 0.0)]]


# ----- beam search against a plain reference implementation ------------------------------------


def reference_beam_search(model, start_token, beam_size, max_length, eos_id, alpha):
    """Textbook beam search over Python lists, one input, no early stopping, float32 scores.

    Same rules as `beam_search`: candidates ranked by (score, beam, token); eos candidates among the
    top K finish; the first K others stay live; live ones compete at the end.
    """
    live = [([], start_token, model.init_state(1), torch.tensor(0.0))]  # (tokens, fed, state, score)
    finished = []
    for length in range(1, max_length + 1):
        candidates = []
        for beam, (tokens, fed, state, score) in enumerate(live):
            logits, next_state = model.step(torch.tensor([fed]), state)
            log_probs = F.log_softmax(logits.float(), dim=-1)[0]
            for token in range(log_probs.shape[0]):
                candidates.append((score + log_probs[token], beam, token, tokens, next_state))
        candidates.sort(key=lambda c: (-c[0].item(), c[1], c[2]))
        live = []
        for rank, (score, _, token, tokens, state) in enumerate(candidates[: 2 * beam_size]):
            if token == eos_id:
                if rank < beam_size:
                    finished.append((tokens + [token], score.item() / length_penalty_factor(length, alpha)))
            elif len(live) < beam_size:
                live.append((tokens + [token], token, state, score))
    final = finished + [
        (tokens, score.item() / length_penalty_factor(max_length, alpha)) for tokens, _, _, score in live
    ]
    return sorted(final, key=lambda hyp: hyp[1], reverse=True)[:beam_size]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 1000),
    vocab_size=st.integers(2, 5),
    beam_size=st.integers(1, 4),
    max_length=st.integers(1, 5),
    eos_id=st.sampled_from([None, 0, 1]),
    alpha=st.sampled_from([0.0, 0.6, 1.5]),
)
def test_beam_search_matches_reference(seed, vocab_size, beam_size, max_length, eos_id, alpha):
    model = HistoryModel(vocab_size, seed=seed)
    starts = [0, 1]
    results = run_beam(model, starts, beam_size, max_length, eos_id=eos_id, length_penalty=alpha)
    for start, result in zip(starts, results):
        expected = reference_beam_search(model, start, beam_size, max_length, eos_id, alpha)
        assert [tokens for tokens, _ in result] == [tokens for tokens, _ in expected]
        assert [score for _, score in result] == pytest.approx([score for _, score in expected], abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), vocab_size=st.integers(2, 4), max_length=st.integers(1, 3))
def test_exhaustive_beam_finds_the_brute_force_best(seed, vocab_size, max_length):
    model = HistoryModel(vocab_size, seed=seed)
    expected = brute_force(model, 2, max_length, eos_id=0, alpha=0.7)
    (result,) = run_beam(model, [2], vocab_size**max_length, max_length, eos_id=0, length_penalty=0.7)
    assert result[0][1] == pytest.approx(expected[0][1], abs=1e-5)
    assert len(result) == len(expected)


def test_itertools_enumeration_agrees_with_brute_force_helper():
    # Guard the test helper itself: without eos it must visit every one of V**T sequences once.
    model = HistoryModel(vocab_size=3, seed=5)
    sequences = [tokens for tokens, _ in brute_force(model, 0, 3)]
    assert sorted(sequences) == [list(p) for p in itertools.product(range(3), repeat=3)]


# ----- what mutation testing found unguarded -----------------------------------------------------


def test_sample_next_applies_top_p():
    # p = softmax([3, 2.9, 0]): top_p 0.5 keeps token 0 alone (its 0.51 reaches it), so every draw is 0
    logits = torch.tensor([[3.0, 2.9, 0.0]]).expand(200, 3)
    drawn = sample_next(logits, top_p=0.5, generator=torch.Generator().manual_seed(0))
    assert drawn.eq(0).all()
    assert sample_next(logits, generator=torch.Generator().manual_seed(0)).eq(1).any()  # without it: not


def test_generate_and_sample_text_pass_top_k_and_top_p_on():
    model = BigramModel(torch.tensor([[0.0, 1.0, 0.95, 0.9]] * 4))  # after any token: 1, then 2 and 3 close
    for option in ({"top_k": 1}, {"top_p": 0.2}):
        ids = list(generate(model, [0], 50, seed=3, **option))
        assert set(ids) == {1}, option  # the most likely alone
        text = "".join(sample_text(model, CharVocab("abcd"), "a", 50, seed=3, **option))
        assert set(text[1:]) == {"b"}, option


def test_very_low_temperature_on_large_logits_stays_finite():
    logits = torch.tensor([[60.0, 59.0, -60.0]])
    filtered = filter_logits(logits, temperature=0.01)
    assert torch.isfinite(filtered[0, :2]).all() and filtered.softmax(-1)[0, 0] == 1.0


def test_greedy_scores_are_divided_by_the_length_penalty():
    model = BigramModel(random_table(5, seed=2))
    ((plain,),), ((penalised,),) = run_greedy(model, [0], 6), run_greedy(model, [0], 6, length_penalty=0.8)
    assert penalised[0] == plain[0]
    assert penalised[1] == pytest.approx(plain[1] / length_penalty_factor(6, 0.8), rel=1e-6)


def test_a_row_that_has_stopped_stays_stopped():
    # sampled rows meet the stop token at different steps; generation ends at the first step by which
    # every row has produced it (not when all produce it at the same step)
    model = BigramModel(torch.zeros(3, 3))  # uniform over 3 tokens
    steps = torch.stack(list(generate(model, [0], 200, seed=5, stop_ids=[2], batch_size=6)))  # (T, B)
    seen = (steps == 2).cumsum(0) > 0  # (T, B): has row b produced a 2 by step t?
    first_all = int(seen.all(1).nonzero()[0])
    assert len(steps) == first_all + 1
    assert not (steps[-1] == 2).all()  # with this seed the rows did not all stop at the same step


def test_a_stop_string_split_over_several_tokens_is_found():
    model = BigramModel(cycle_table(6, confidence=50.0))  # a b c d e f a b c ...
    text = "".join(sample_text(model, CharVocab("abcdef"), "a", 40, greedy=True, stop="fab"))
    assert text == "abcdefab"
    text = "".join(sample_text(model, CharVocab("abcdef"), "a", 40, greedy=True, stop="cdefa"))
    assert text == "abcdefa"
