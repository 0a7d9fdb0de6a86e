"""UnifiedVoice and its sampler against tortoise-tts 3.0.0 (identical random weights, CPU, float32)."""
import pytest
import torch

from evalkit.tortoise.autoregressive import (
    AutoregressiveConfig,
    UnifiedVoice,
    fix_autoregressive_output,
    pad_codes,
    speech_length,
)
from evalkit.tortoise.decoding import CodeSampler, SampledCodes, SamplingOptions

TINY = AutoregressiveConfig.tiny()
STOP = TINY.stop_mel_token
MAX_CODES = 32
TOLERANCE = 1e-4  # relative

pytestmark = pytest.mark.usefixtures("single_thread")


def build_pair(reference, perturb, stop_bias=0.0):
    """A perturbed tiny reference model and ours, loaded from its state dict (strict)."""
    ref = perturb(reference.autoregressive(TINY), seed=1)
    with torch.no_grad():
        # Random weights almost never choose the stop token; a bias makes some candidates stop early.
        ref.mel_head.bias[STOP] += stop_bias
    ours = UnifiedVoice(TINY).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.post_init_gpt2_config(kv_cache=False)  # adds aliased keys, so only after copying the weights
    return ref, ours


@pytest.fixture(scope="module")
def models(reference, perturb):
    return build_pair(reference, perturb)


@pytest.fixture(scope="module")
def stopping_models(reference, perturb):
    return build_pair(reference, perturb, stop_bias=2.0)


@pytest.fixture(scope="module")
def prompt():
    generator = torch.Generator().manual_seed(7)
    cond = torch.randn(1, TINY.model_dim, generator=generator)
    text = torch.randint(0, 255, (1, 12), generator=generator)
    return cond, text


def reference_codes(ref, cond, text, *, kv_cache=False, **generate_kwargs):
    """tortoise's inference_speech, right-padded with the stop token as api.py does."""
    ref.post_init_gpt2_config(kv_cache=kv_cache)
    try:
        with torch.no_grad():
            codes = ref.inference_speech(cond, text, max_generate_length=MAX_CODES, **generate_kwargs)
    finally:
        ref.post_init_gpt2_config(kv_cache=False)
    return pad_codes(codes, MAX_CODES, STOP)


def test_state_dicts_are_interchangeable(models, reference):
    ref, ours = models
    fresh = reference.autoregressive(TINY)
    fresh.load_state_dict(ours.state_dict(), strict=True)
    expected = {k: v.shape for k, v in fresh.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == expected


def test_conditioning_latent_matches(models, rel_err):
    ref, ours = models
    mels = torch.randn(2, 2, 80, 60, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = ref.get_conditioning(mels)
        assert rel_err(ours.conditioning_latent(mels), expected) < TOLERANCE
        assert rel_err(ours.conditioning_latent(mels[:, 0]), ref.get_conditioning(mels[:, 0])) < TOLERANCE
        # Clips of different lengths, given as a list: the mean of their latents.
        clips = [mels[0, 0], mels[0, 1, :, :45]]
        singles = torch.cat([ref.get_conditioning(c.unsqueeze(0)) for c in clips])
        assert rel_err(ours.conditioning_latent(clips)[0], singles.mean(0)) < TOLERANCE


def _teacher_forced_reference(ref, cond, text, codes, **kwargs):
    batch, length = codes.shape
    return ref(
        cond, text, torch.full((batch,), text.shape[1]), codes.clone(),
        torch.full((batch,), length * TINY.mel_length_compression), clip_inputs=False, **kwargs,
    )


def test_mel_logits_and_latents_match(models, rel_err):
    ref, ours = models
    generator = torch.Generator().manual_seed(3)
    cond = torch.randn(2, TINY.model_dim, generator=generator)
    text = torch.randint(0, 255, (2, 9), generator=generator)
    codes = torch.randint(0, 8192, (2, 14), generator=generator)
    with torch.no_grad():
        _, _, ref_logits = _teacher_forced_reference(ref, cond, text, codes)
        ref_latents = _teacher_forced_reference(ref, cond, text, codes, return_latent=True)
        logits = ours.mel_logits(cond, text, codes)
        latents = ours.latents(cond, text, codes)
    # The reference also scores the stop token it appends: one row more.
    assert rel_err(logits, ref_logits.permute(0, 2, 1)[:, : codes.shape[1] + 1]) < TOLERANCE
    assert latents.shape == ref_latents.shape == (2, 14, TINY.model_dim)
    assert rel_err(latents, ref_latents) < TOLERANCE


def test_static_cache_steps_match_plain_forward(models, prompt, rel_err):
    _, ours = models
    cond, text = prompt
    codes = torch.randint(0, 8192, (3, 20), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        plain = ours.mel_logits(cond.expand(3, -1), text.expand(3, -1), codes)
        cache = ours.gpt.new_cache(batch=3, slots=64)
        prompt_length = text.shape[1] + 4
        stepped = [ours.prefill(cond, text, cache).expand(3, -1)]
        for j in range(1, codes.shape[1] + 1):
            slot = prompt_length + j - 1
            window = cache.window(3, 8 * (slot // 8 + 1))  # fixed-shape windows, as the sampler uses
            stepped.append(ours.decode_step(codes[:, j - 1], torch.tensor([j]), torch.tensor([slot]), window))
    assert rel_err(torch.stack(stepped, dim=1), plain) < TOLERANCE


def test_greedy_codes_equal_reference_uncached_not_cached(models, prompt):
    ref, ours = models
    cond, text = prompt
    uncached = reference_codes(ref, cond, text, do_sample=False, repetition_penalty=2.0)
    cached = reference_codes(ref, cond, text, kv_cache=True, do_sample=False, repetition_penalty=2.0)
    options = SamplingOptions(num_candidates=1, greedy=True, max_mel_tokens=MAX_CODES)
    ours_codes = CodeSampler(ours, window_step=8).sample(cond, text[0], options).codes
    assert torch.equal(ours_codes, uncached)
    # The reference's KV-cache path embeds each fed code one mel position too far (see
    # evalkit/tortoise/autoregressive.py): its greedy codes differ from the trained, uncached path.
    assert not torch.equal(cached, uncached)
    assert torch.equal(cached[:, 0], uncached[:, 0])  # the first code comes from the shared prefill


@pytest.mark.parametrize("seed", [0, 1])
def test_sampling_equals_reference_generate(stopping_models, prompt, seed):
    ref, ours = stopping_models
    cond, text = prompt
    torch.manual_seed(seed)
    expected = reference_codes(
        ref, cond, text, do_sample=True, top_p=0.8, temperature=0.8, repetition_penalty=2.0,
        length_penalty=1.0, num_return_sequences=4,
    )
    options = SamplingOptions(num_candidates=4, max_mel_tokens=MAX_CODES)
    sampled = CodeSampler(ours, window_step=8).sample(cond, text, options, torch.Generator().manual_seed(seed))
    assert torch.equal(sampled.codes, expected)


def test_sampled_candidates_stop_both_ways(stopping_models, prompt):
    """The parity runs above include rows ended by the stop token and rows cut at max length."""
    _, ours = stopping_models
    cond, text = prompt
    options = SamplingOptions(num_candidates=8, max_mel_tokens=MAX_CODES)
    sampled = CodeSampler(ours).sample(cond, text, options, torch.Generator().manual_seed(0))
    assert set(sampled.stop_reasons()) == {"stop_token", "max_length"}
    for row, length, stopped in zip(sampled.codes, sampled.lengths, sampled.stopped):
        assert (row[:length] != STOP).all() and (row[length:] == STOP).all()
        assert bool(stopped) == (length < MAX_CODES)


def test_batches_follow_tortoise_batch_loop(stopping_models, prompt):
    """max_batch=2 of 4 candidates == tortoise drawing two batches of 2 after one manual_seed."""
    ref, ours = stopping_models
    cond, text = prompt
    torch.manual_seed(11)
    kwargs = dict(do_sample=True, top_p=0.8, temperature=0.8, repetition_penalty=2.0, num_return_sequences=2)
    expected = torch.cat([reference_codes(ref, cond, text, **kwargs) for _ in range(2)])
    options = SamplingOptions(num_candidates=4, max_batch=2, max_mel_tokens=MAX_CODES)
    sampled = CodeSampler(ours).sample(cond, text, options, torch.Generator().manual_seed(11))
    assert torch.equal(sampled.codes, expected)


def test_length_penalty_does_not_change_reference_sampling(stopping_models, prompt):
    ref, _ = stopping_models
    cond, text = prompt
    runs = []
    for length_penalty in (1.0, 5.0):
        torch.manual_seed(4)
        runs.append(reference_codes(
            ref, cond, text, do_sample=True, top_p=0.8, temperature=0.8, repetition_penalty=2.0,
            length_penalty=length_penalty, num_return_sequences=3,
        ))
    assert torch.equal(runs[0], runs[1])


def test_seeded_generator_makes_items_independent(stopping_models, prompt):
    _, ours = stopping_models
    cond, text = prompt
    sampler = CodeSampler(ours, window_step=8)
    options = SamplingOptions(num_candidates=3, max_mel_tokens=MAX_CODES)
    first = sampler.sample(cond, text, options, torch.Generator().manual_seed(21)).codes
    torch.manual_seed(999)  # global RNG state is irrelevant
    sampler.sample(cond, text[:, :5], options, torch.Generator().manual_seed(5))  # another item in between
    again = sampler.sample(cond, text, options, torch.Generator().manual_seed(21)).codes
    other = sampler.sample(cond, text, options, torch.Generator().manual_seed(22)).codes
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_window_granularity_does_not_change_codes(stopping_models, prompt):
    _, ours = stopping_models
    cond, text = prompt
    options = SamplingOptions(num_candidates=3, max_mel_tokens=MAX_CODES)
    runs = [
        CodeSampler(ours, window_step=step).sample(cond, text, options, torch.Generator().manual_seed(8)).codes
        for step in (8, 128)
    ]
    assert torch.equal(runs[0], runs[1])


def test_bfloat16_decoding_tracks_float32(models, prompt, rel_err):
    _, ours = models
    cond, text = prompt
    half = UnifiedVoice(TINY).eval()
    half.load_state_dict(ours.state_dict())
    half.cast(torch.bfloat16)
    with torch.no_grad():
        cache = half.gpt.new_cache(batch=1, slots=32)
        assert cache.keys.dtype == torch.bfloat16
        logits = half.prefill(cond, text, cache)
        assert logits.dtype == torch.float32  # the float32 head: what is sampled is not rounded to bf16
        assert rel_err(logits, ours.prefill(cond, text, ours.gpt.new_cache(1, 32))) < 0.05
    options = SamplingOptions(num_candidates=2, max_mel_tokens=10)
    sampled = CodeSampler(half).sample(cond, text, options, torch.Generator().manual_seed(0))
    assert sampled.codes.shape == (2, 10) and sampled.codes.dtype == torch.long


def test_sampling_input_errors_are_clear(models, prompt):
    _, ours = models
    cond, text = prompt
    sampler = CodeSampler(ours)
    with pytest.raises(ValueError, match="torch.Generator"):
        sampler.sample(cond, text, SamplingOptions())
    with pytest.raises(ValueError, match="max_mel_tokens"):
        sampler.sample(cond, text, SamplingOptions(max_mel_tokens=10_000), torch.Generator())
    with pytest.raises(ValueError, match="text has 41 tokens"):
        sampler.sample(cond, torch.zeros(41, dtype=torch.long), SamplingOptions(greedy=True, max_mel_tokens=5))
    with pytest.raises(ValueError, match="top_p=1.5"):
        SamplingOptions(top_p=1.5)


def test_sampled_codes_report_lengths_and_reasons():
    codes = torch.tensor([[5, 6, STOP, STOP], [1, 2, 3, 4], [STOP, STOP, STOP, STOP]])
    sampled = SampledCodes.from_codes(codes, STOP)
    assert sampled.lengths.tolist() == [2, 4, 0]
    assert sampled.stop_reasons() == ["stop_token", "max_length", "stop_token"]


def test_fix_autoregressive_output():
    calm, end = 83, [45, 45, 248]
    cases = [
        ([7, 8, 9, STOP, STOP, STOP, STOP, STOP, STOP, STOP], [7, 8, 9, calm, calm, calm, calm] + end),
        ([7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),  # no stop: unchanged
        ([7, 8, 9, 10, 11, 12, 13, 14, STOP, STOP], [7, 8, 9, 10, 11, 12, 13] + end),  # end codes overwrite
        ([1, STOP, 5, STOP, 6, 7], [1, calm, calm] + end),  # everything after the first stop is silence
    ]
    for row, expected in cases:
        row = torch.tensor(row)
        before = row.clone()
        assert fix_autoregressive_output(row, STOP).tolist() == expected
        assert torch.equal(row, before)  # pure


def test_speech_length_cuts_at_the_ninth_calm_code():
    calm = 83
    assert speech_length(torch.tensor([1, 2] + [calm] * 8 + [3])) == 11  # a run of 8 is kept
    assert speech_length(torch.tensor([1, 2] + [calm] * 12)) == 10  # cut at the 9th calm code
    assert speech_length(torch.tensor([calm] * 4 + [5] + [calm] * 9)) == 13


@pytest.mark.gpu
def test_cuda_graph_decoding_equals_eager(perturb, prompt):
    cpu = perturb(UnifiedVoice(TINY), seed=3).eval()  # no oracle needed: runs where tortoise is absent
    with torch.no_grad():
        cpu.mel_head.bias[STOP] += 2.0
    gpu = UnifiedVoice(TINY).eval().cuda()
    gpu.load_state_dict(cpu.state_dict())
    cond, text = prompt
    options = SamplingOptions(num_candidates=5, max_mel_tokens=MAX_CODES)
    graphed = CodeSampler(gpu, cuda_graph=True, window_step=8)
    eager = CodeSampler(gpu, cuda_graph=False, window_step=8)
    for seed in (0, 1):
        runs = [
            sampler.sample(cond, text, options, torch.Generator("cuda").manual_seed(seed))
            for sampler in (graphed, eager)
        ]
        assert torch.equal(runs[0].codes, runs[1].codes)
        assert runs[0].stopped.any()  # finished rows are handled inside the graph too
    assert graphed._graphs, "no CUDA graph was captured"
    # A larger batch grows the cache, which drops and re-captures the graphs.
    more = SamplingOptions(num_candidates=9, max_mel_tokens=MAX_CODES)
    runs = [s.sample(cond, text, more, torch.Generator("cuda").manual_seed(2)).codes for s in (graphed, eager)]
    assert torch.equal(runs[0], runs[1])
    greedy = SamplingOptions(num_candidates=1, greedy=True, max_mel_tokens=MAX_CODES)
    on_gpu = graphed.sample(cond, text, greedy).codes.cpu()
    on_cpu = CodeSampler(cpu).sample(cond, text, greedy).codes
    assert torch.equal(on_gpu, on_cpu)


@pytest.mark.slow
def test_official_size_matches_reference(reference, perturb, rel_err):
    config = AutoregressiveConfig.official()
    ref = reference.autoregressive(config)
    ours = UnifiedVoice(config).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert len(ours.state_dict()) == 410
    assert sum(p.numel() for p in ours.parameters()) == 421_526_786
    ref.post_init_gpt2_config(kv_cache=False)
    assert len(ref.state_dict()) == 782  # the often-quoted count includes the inference aliases
    generator = torch.Generator().manual_seed(0)
    mels = torch.randn(1, 2, 80, 100, generator=generator)
    text = torch.randint(0, 255, (1, 20), generator=generator)
    codes = torch.randint(0, 8192, (1, 30), generator=generator)
    with torch.no_grad():
        cond = ref.get_conditioning(mels)
        assert rel_err(ours.conditioning_latent(mels), cond) < TOLERANCE
        _, _, ref_logits = _teacher_forced_reference(ref, cond, text, codes)
        assert rel_err(ours.mel_logits(cond, text, codes), ref_logits.permute(0, 2, 1)[:, :31]) < TOLERANCE
    greedy = SamplingOptions(num_candidates=1, greedy=True, max_mel_tokens=12)
    with torch.no_grad():
        expected = ref.inference_speech(cond, text, do_sample=False, repetition_penalty=2.0, max_generate_length=12)
    assert torch.equal(CodeSampler(ours).sample(cond, text, greedy).codes, pad_codes(expected, 12, STOP))
