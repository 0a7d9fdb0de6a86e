"""Sampling candidate code sequences from `UnifiedVoice`, exactly as tortoise does, but fast.

What tortoise-tts 3.0.0 does (api.py -> `UnifiedVoice.inference_speech` -> transformers 4.x
`generate(do_sample=True, top_p, temperature, repetition_penalty, length_penalty, num_return_sequences)`),
and what `CodeSampler` reproduces:

1. The ids handed to `generate` are "fake inputs": id 1 at every prompt position, `start_mel` (8192)
   last. Only the last is embedded, but the repetition penalty sees them all, so ids 1 and 8192 are
   penalised from the first step on.
2. Each step's logits are cast to float32 and processed in HF's order: repetition penalty (every
   distinct id in the row so far, prompt ids and generated codes alike: negative scores multiplied,
   positive ones divided by the penalty), temperature, top-k with k=50 (HF's default: tortoise never
   sets `top_k`, so it is silently active), top-p (nucleus; the most likely id always survives).
3. `torch.multinomial(softmax(scores), 1)`. For one sample PyTorch computes argmax(probs / E) with
   E ~ Exp(1) drawn by `exponential_` over the (batch, vocab) tensor; evalkit draws E the same way from
   the caller's generator. So a generator seeded s reproduces the reference run under
   `torch.manual_seed(s)` on the same device with the same candidates per batch.
4. A row that emitted the stop token (8193) is finished and receives the stop token from then on
   (HF pads with pad = eos = stop); decoding ends when every row is finished or `max_mel_tokens` codes
   were produced. tortoise then right-pads the batch to `max_mel_tokens` with the stop token; the codes
   returned here are already that shape.

`length_penalty` has no option here because it has no effect: HF applies it only when scoring beams,
and sampling with num_beams=1 never does (`tests/tortoise/test_autoregressive.py` checks that the
reference gives the same codes for length_penalty 1 and 5).

Randomness: every draw comes from the `torch.Generator` the caller passes (one seed per item), never from
global state, so an item's candidates do not depend on the other items, their order or the executor.
Candidates are drawn in batches of `max_batch` (all at once by default), one batch after the other from
the same generator, as tortoise draws its `autoregressive_batch_size` batches: candidates therefore
depend on `max_batch`, and with tortoise's batch size they equal tortoise's.

Speed: the prompt is prefilled once into a preallocated `KVCache`; each later step feeds one code per
row at a fixed slot under an attention mask, attending over a window of the cache (a multiple of
`window_step` slots, the smallest that covers the prompt and the codes so far). A step (model, logits
processing, sampling, bookkeeping) has fixed shapes per window, so on CUDA each window's step is
captured once in a `torch.cuda.CUDAGraph` and replayed; per step the host only draws the noise and
reads one "all finished?" flag. On CPU the same step runs eagerly. The model's dtype (float32,
float16, bfloat16: cast the model) is the cache's dtype; logits are processed in float32 as HF does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from evalkit.tortoise.autoregressive import UnifiedVoice
from evalkit.tortoise.gpt2 import KVCache

FAKE_INPUT_ID = 1  # the id tortoise fills the prompt positions of `generate`'s input_ids with
HF_DEFAULT_TOP_K = 50


@dataclass(frozen=True)
class SamplingOptions:
    """How candidates are drawn; defaults are tortoise's `tts()` defaults (presets set num_candidates)."""

    num_candidates: int = 16
    temperature: float = 0.8
    top_p: float = 0.8
    top_k: int = HF_DEFAULT_TOP_K  # 0 disables it
    repetition_penalty: float = 2.0
    max_mel_tokens: int = 500
    greedy: bool = False  # argmax of the penalised logits (HF's do_sample=False); ignores the warpers
    max_batch: int | None = None  # candidates per decode batch; None: all at once

    def __post_init__(self):
        checks = {
            "num_candidates": self.num_candidates >= 1,
            "temperature": self.temperature > 0,
            "top_p": 0 < self.top_p <= 1,
            "top_k": self.top_k >= 0,
            "repetition_penalty": self.repetition_penalty > 0,
            "max_mel_tokens": self.max_mel_tokens >= 1,
            "max_batch": self.max_batch is None or self.max_batch >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid sampling options: {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")

    def batch_sizes(self) -> list[int]:
        size = self.max_batch or self.num_candidates
        full, rest = divmod(self.num_candidates, size)
        return [size] * full + ([rest] if rest else [])

    def processing_key(self) -> tuple:
        """The fields a captured step bakes in."""
        return (self.greedy, self.temperature, self.top_k, self.top_p, self.repetition_penalty)


@dataclass(frozen=True)
class SampledCodes:
    """Candidates of one prompt. `codes` (N, max_mel_tokens): after a row's stop token, stop tokens."""

    codes: torch.Tensor
    lengths: torch.Tensor  # (N,) codes before the stop token; max_mel_tokens when it never came
    stopped: torch.Tensor  # (N,) True: ended by the stop token; False: cut at max_mel_tokens

    @classmethod
    def from_codes(cls, codes: torch.Tensor, stop_token: int) -> SampledCodes:
        is_stop = codes == stop_token
        stopped = is_stop.any(dim=1)
        lengths = torch.where(stopped, is_stop.int().argmax(dim=1), codes.shape[1])
        return cls(codes=codes, lengths=lengths, stopped=stopped)

    def stop_reasons(self) -> list[str]:
        return ["stop_token" if s else "max_length" for s in self.stopped.tolist()]


def process_logits(logits: torch.Tensor, seen: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """HF's processors as tortoise's call configures them; `seen` (batch, vocab) marks ids in the row."""
    scores = logits
    if options.repetition_penalty != 1.0:
        penalty = options.repetition_penalty
        penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
        scores = torch.where(seen, penalised, scores)
    if options.greedy:
        return scores
    if options.temperature != 1.0:
        scores = scores / options.temperature
    if options.top_k:
        kth_best = torch.topk(scores, min(options.top_k, scores.shape[-1])).values[..., -1:]
        scores = scores.masked_fill(scores < kth_best, -math.inf)
    if options.top_p < 1.0:
        ascending, order = torch.sort(scores, descending=False)
        drop_sorted = ascending.softmax(dim=-1).cumsum(dim=-1) <= 1 - options.top_p
        drop_sorted[..., -1:] = False
        drop = torch.empty_like(drop_sorted).scatter_(1, order, drop_sorted)
        scores = scores.masked_fill(drop, -math.inf)
    return scores


def choose_tokens(scores: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """argmax (noise None) or a multinomial draw given Exp(1) `noise`: torch.multinomial's own method."""
    if noise is None:
        return scores.argmax(dim=-1)
    return (scores.softmax(dim=-1) / noise).argmax(dim=-1)


class _BatchState:
    """Fixed buffers of one decode batch; a captured step reads and updates exactly these."""

    def __init__(self, cache: KVCache, batch: int, max_codes: int, vocab: int):
        device = cache.keys.device
        self.cache = cache.window(batch, cache.slots)
        self.last = torch.zeros(batch, dtype=torch.long, device=device)  # code fed to the next step
        self.column = torch.zeros(1, dtype=torch.long, device=device)  # next code's index = mel position
        self.slot = torch.zeros(1, dtype=torch.long, device=device)  # cache slot of the fed code
        self.seen = torch.zeros(batch, vocab, dtype=torch.bool, device=device)
        self.finished = torch.zeros(batch, dtype=torch.bool, device=device)
        self.codes = torch.zeros(batch, max_codes, dtype=torch.long, device=device)
        self.noise = torch.ones(batch, vocab, dtype=torch.float32, device=device)

    def reset(self, prompt_length: int, start_token: int, stop_token: int):
        self.column.zero_()
        self.slot.fill_(prompt_length)
        self.seen.zero_()
        self.seen[:, [FAKE_INPUT_ID, start_token]] = True
        self.finished.zero_()
        self.codes.fill_(stop_token)


class CodeSampler:
    """Draws candidate code sequences from a `UnifiedVoice`; keeps its cache and CUDA graphs between calls.

    `cuda_graph`: capture decode steps in CUDA graphs (default: on when the model is on CUDA).
    `window_step`: granularity, in cache slots, of the attention windows (one graph each).
    """

    def __init__(self, model: UnifiedVoice, *, cuda_graph: bool | None = None, window_step: int = 128):
        self.model = model.eval()
        self.device = model.mel_head.weight.device
        self.cuda_graph = self.device.type == "cuda" if cuda_graph is None else cuda_graph
        if self.cuda_graph and self.device.type != "cuda":
            raise ValueError(f"CUDA graphs need the model on a CUDA device, not {self.device}")
        self.window_step = window_step
        self._cache: KVCache | None = None
        self._states: dict[tuple, _BatchState] = {}
        self._graphs: dict[tuple, torch.cuda.CUDAGraph] = {}
        self._pool = None

    @torch.no_grad()
    def sample(self, cond_latent, text_tokens, options: SamplingOptions, generator=None) -> SampledCodes:
        """Candidates for one prompt.

        cond_latent: (dim,) or (1, dim) from `UnifiedVoice.conditioning_latent`; text_tokens: the model
        text ids (`text.model_text_tokens`); generator: a `torch.Generator` on the model's device,
        seeded by the caller (required unless `options.greedy`).
        """
        if not options.greedy:
            if generator is None:
                raise ValueError("sampling needs a torch.Generator seeded by the caller (one per item)")
            if torch.device(generator.device).type != self.device.type:
                raise ValueError(f"generator is on {generator.device}, the model on {self.device}")
        config = self.model.config
        if options.max_mel_tokens + 1 > config.mel_positions:
            raise ValueError(
                f"max_mel_tokens={options.max_mel_tokens} exceeds the model's {config.mel_positions - 1} mel positions"
            )
        text = torch.as_tensor(text_tokens, dtype=torch.long, device=self.device).reshape(1, -1)
        cond = cond_latent.reshape(1, -1).to(self.device)
        codes = [self._sample_batch(cond, text, size, options, generator) for size in options.batch_sizes()]
        return SampledCodes.from_codes(torch.cat(codes), config.stop_mel_token)

    def _sample_batch(self, cond, text, batch, options, generator) -> torch.Tensor:
        config = self.model.config
        prompt_length = text.shape[1] + 4  # cond, start_text, text, stop_text, start_mel
        max_codes = options.max_mel_tokens
        state = self._state(batch, max_codes, prompt_length + max_codes - 1)
        windows = sorted({self._window(prompt_length + j) for j in range(1, max_codes)})
        if self.cuda_graph:
            for window in windows:
                self._capture(state, batch, max_codes, window, options)
        state.reset(prompt_length, config.start_mel_token, config.stop_mel_token)

        logits = self.model.prefill(cond, text, state.cache)
        self._draw_noise(state, options, generator)
        self._choose(state, logits.expand(batch, -1), options)
        for j in range(1, max_codes):
            if bool(state.finished.all()):
                break
            self._draw_noise(state, options, generator)
            window = self._window(prompt_length + j)
            graph = self._graphs.get((batch, max_codes, window, options.processing_key()))
            if graph is not None:
                graph.replay()
            else:
                self._step(state, window, options)
        return state.codes.clone()

    def _window(self, slots: int) -> int:
        return -(-slots // self.window_step) * self.window_step

    def _state(self, batch: int, max_codes: int, slots: int) -> _BatchState:
        cache = self._cache
        if cache is None or cache.batch < batch or cache.slots < slots:
            # Grow the one cache every batch state views; graphs point at the old one, so drop them
            # and their memory pool (a pool handle must not outlive every graph that used it).
            rows = max(batch, cache.batch if cache else 0)
            capacity = max(self._window(slots), cache.slots if cache else 0)
            self._cache = self._states = self._graphs = self._pool = None  # free before allocating
            self._cache = self.model.gpt.new_cache(rows, capacity)
            self._states, self._graphs = {}, {}
        key = (batch, max_codes)
        if key not in self._states:
            self._states[key] = _BatchState(self._cache, batch, max_codes, self.model.config.number_mel_codes)
        return self._states[key]

    @staticmethod
    def _draw_noise(state: _BatchState, options: SamplingOptions, generator):
        if not options.greedy:
            state.noise.exponential_(generator=generator)

    def _choose(self, state: _BatchState, logits: torch.Tensor, options: SamplingOptions):
        scores = process_logits(logits.float(), state.seen, options)
        chosen = choose_tokens(scores, None if options.greedy else state.noise)
        chosen = chosen.masked_fill(state.finished, self.model.config.stop_mel_token)
        state.codes.index_copy_(1, state.column, chosen.unsqueeze(1))
        state.finished |= chosen == self.model.config.stop_mel_token
        state.seen.scatter_(1, chosen.unsqueeze(1), True)
        state.last.copy_(chosen)
        state.column += 1

    def _step(self, state: _BatchState, window: int, options: SamplingOptions):
        cache = state.cache.window(state.cache.batch, window)
        logits = self.model.decode_step(state.last, state.column, state.slot, cache)
        state.slot += 1
        self._choose(state, logits, options)

    def _capture(self, state: _BatchState, batch: int, max_codes: int, window: int, options: SamplingOptions):
        key = (batch, max_codes, window, options.processing_key())
        if key in self._graphs:
            return
        # Warm up on a side stream (lazy cuBLAS/kernel initialisation must not happen during capture).
        # It writes junk at cache slot 0 and into the small buffers: reset() and prefill overwrite both.
        state.column.zero_()
        state.slot.zero_()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            self._step(state, window, options)
        torch.cuda.current_stream(self.device).wait_stream(side)
        state.column.zero_()
        state.slot.zero_()
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            self._step(state, window, options)
        self._graphs[key] = graph
