"""Parity of evalkit.tortoise.diffusion / sampler with tortoise-tts 3.0.0's DiffusionTts and SpacedDiffusion."""
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("tortoise")

from evalkit.tortoise.audio import denormalize_tacotron_mel, diffusion_output_frames, normalize_tacotron_mel  # noqa: E402
from evalkit.tortoise.diffusion import (  # noqa: E402
    OFFICIAL_DIFFUSION,
    TINY_DIFFUSION,
    DiffusionTts,
    FrameMask,
    relative_position_buckets,
)
from evalkit.tortoise.sampler import SamplerOptions, SpacedSchedule, sample_mels, space_timesteps  # noqa: E402

LATENT_FRAMES = 20
FRAMES = diffusion_output_frames(LATENT_FRAMES)


def _reference_model(config, seed=0):
    from tortoise.models.diffusion_decoder import DiffusionTts as Reference

    torch.manual_seed(seed)
    ref = Reference(model_channels=config.model_channels, num_layers=config.num_layers,
                    in_channels=config.in_channels, out_channels=config.out_channels,
                    in_latent_channels=config.in_latent_channels, in_tokens=config.in_tokens, dropout=0,
                    use_fp16=False, num_heads=config.num_heads, layer_drop=0, unconditioned_percentage=0).eval()
    with torch.no_grad():  # attention outputs are zero-initialised; perturb so every path carries signal
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return ref


def _reference_diffuser(steps, cond_free, cond_free_k=2.0):
    """tortoise.api.load_discrete_vocoder_diffuser (api.py itself costs ~11 s to import)."""
    from tortoise.utils.diffusion import SpacedDiffusion, get_named_beta_schedule
    from tortoise.utils.diffusion import space_timesteps as reference_space_timesteps

    return SpacedDiffusion(use_timesteps=reference_space_timesteps(4000, [steps]), model_mean_type="epsilon",
                           model_var_type="learned_range", loss_type="mse",
                           betas=get_named_beta_schedule("linear", 4000), conditioning_free=cond_free,
                           conditioning_free_k=cond_free_k)


@pytest.fixture(scope="module")
def models():
    ref = _reference_model(TINY_DIFFUSION)
    ours = DiffusionTts(TINY_DIFFUSION).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(3)
    return {
        "latents": torch.randn(1, LATENT_FRAMES, TINY_DIFFUSION.in_latent_channels, generator=g),
        "voice_mels": torch.randn(1, 2, 100, 401, generator=g) - 4,
        "x": torch.randn(1, 100, FRAMES, generator=g),
    }


def _close(ours, ref, rtol=1e-4):
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=rtol, atol=rtol * ref.abs().max().item())


def test_state_dicts_load_strictly_both_ways(models):
    ref, ours = models
    ref.load_state_dict(ours.state_dict(), strict=True)
    assert {k: v.shape for k, v in ref.state_dict().items()} == {k: v.shape for k, v in ours.state_dict().items()}


def test_conditioning_latent_and_aligned_embeddings_match(models, inputs):
    ref, ours = models
    with torch.no_grad():
        voice = ref.get_conditioning(inputs["voice_mels"])
        _close(ours.conditioning_latent(inputs["voice_mels"]), voice)
        _close(ours.aligned_embeddings(inputs["latents"], voice, FRAMES),
               ref.timestep_independent(inputs["latents"], voice, FRAMES, False))
        codes = torch.randint(0, TINY_DIFFUSION.in_tokens, (1, LATENT_FRAMES),
                              generator=torch.Generator().manual_seed(0))
        _close(ours.aligned_embeddings(codes, voice, FRAMES), ref.timestep_independent(codes, voice, FRAMES, False))


@pytest.mark.parametrize("timestep", [0, 1234, 3999])
def test_forward_matches_reference_conditional_and_unconditional(models, inputs, timestep):
    ref, ours = models
    t = torch.tensor([timestep])
    with torch.no_grad():
        emb = ref.timestep_independent(inputs["latents"], ref.get_conditioning(inputs["voice_mels"]), FRAMES, False)
        _close(ours(inputs["x"], t, emb), ref(inputs["x"], t, precomputed_aligned_embeddings=emb))
        _close(ours(inputs["x"], t, ours.unconditioned_embeddings(1, FRAMES)),
               ref(inputs["x"], t, precomputed_aligned_embeddings=emb, conditioning_free=True))
        # guidance as one batch gives both passes
        both = ours(inputs["x"].repeat(2, 1, 1), t, torch.cat([emb, ours.unconditioned_embeddings(1, FRAMES)]))
        _close(both[:1], ref(inputs["x"], t, precomputed_aligned_embeddings=emb))
        _close(both[1:], ref(inputs["x"], t, precomputed_aligned_embeddings=emb, conditioning_free=True))


def test_masked_batch_equals_items_alone(models, inputs):
    _, ours = models
    short = 61
    x = inputs["x"].repeat(2, 1, 1)
    x[1, :, short:] = 0
    emb = torch.randn(2, TINY_DIFFUSION.model_channels, FRAMES, generator=torch.Generator().manual_seed(5))
    mask = FrameMask.from_lengths([FRAMES, short], FRAMES, torch.device("cpu"))
    t = torch.tensor([777])
    with torch.no_grad():
        batched = ours(x, t, emb, mask)
        _close(batched[:1], ours(x[:1], t, emb[:1]))
        _close(batched[1:, :, :short], ours(x[1:, :, :short], t, emb[1:, :, :short]))


def test_relative_position_buckets_match_reference():
    from tortoise.models.xtransformers import RelativePositionBias

    frames = 700
    positions = torch.arange(frames)
    expected = RelativePositionBias._relative_position_bucket(positions[None, :] - positions[:, None], causal=False,
                                                              num_buckets=32, max_distance=64)
    assert torch.equal(relative_position_buckets(frames, torch.device("cpu")), expected)


@pytest.mark.parametrize("steps", [1, 2, 30, 80, 100, 200, 400, 3999, 4000])
def test_space_timesteps_matches_reference(steps):
    from tortoise.utils.diffusion import space_timesteps as reference_space_timesteps

    assert space_timesteps(4000, steps) == sorted(reference_space_timesteps(4000, [steps]))


def test_space_timesteps_rejects_impossible_counts():
    with pytest.raises(ValueError, match="diffusion steps"):
        space_timesteps(4000, 0)


@pytest.mark.parametrize("steps", [30, 200])
def test_schedule_coefficients_match_reference(steps):
    import numpy as np

    ref = _reference_diffuser(steps, cond_free=False)
    ours = SpacedSchedule(steps)
    assert ours.timesteps == ref.timestep_map
    expected = {
        "sqrt_recip_alphas_cumprod": ref.sqrt_recip_alphas_cumprod,
        "sqrt_recipm1_alphas_cumprod": ref.sqrt_recipm1_alphas_cumprod,
        "min_log_variance": ref.posterior_log_variance_clipped,
        "max_log_variance": np.log(ref.betas),
        "posterior_mean_coef1": ref.posterior_mean_coef1,
        "posterior_mean_coef2": ref.posterior_mean_coef2,
    }
    for name, values in expected.items():  # the reference applies them as float32
        assert ours.coefficients[name] == [float(v) for v in values.astype(np.float32)], name


@pytest.mark.parametrize("cond_free", [False, True])
def test_full_sample_matches_reference_p_sample_loop(models, inputs, cond_free):
    ref, ours = models
    steps, temperature, seed = 5, 0.9, 11
    with torch.no_grad():
        voice = ref.get_conditioning(inputs["voice_mels"])
        emb = ref.timestep_independent(inputs["latents"], voice, FRAMES, False)
        torch.manual_seed(seed)  # tortoise.api.do_spectrogram_diffusion, drawing from the global RNG
        noise = torch.randn(1, 100, FRAMES) * temperature
        expected = _reference_diffuser(steps, cond_free).p_sample_loop(
            ref, (1, 100, FRAMES), noise=noise, model_kwargs={"precomputed_aligned_embeddings": emb})
    options = SamplerOptions(steps=steps, cond_free=cond_free, cond_free_k=2.0, temperature=temperature)
    [mel] = sample_mels(ours, [inputs["latents"][0]], voice, [torch.Generator().manual_seed(seed)], options)
    # Most values must lie inside the x0 clip range, or the comparison would only compare clipping.
    assert (expected.abs() < 0.999).float().mean() > 0.25
    # Guidance as one batch of two instead of two batches of one changes float rounding (~1e-6) that the
    # clipping and 5 steps propagate; 1e-4 relative to the mel range still holds.
    _close(normalize_tacotron_mel(mel[None]), expected)
    _close(mel[None], denormalize_tacotron_mel(expected))


def test_batched_items_of_different_lengths_equal_items_alone(models, inputs):
    _, ours = models
    latents = [inputs["latents"][0], inputs["latents"][0, :13] * 0.5]
    voice = torch.randn(2, 2 * TINY_DIFFUSION.model_channels, generator=torch.Generator().manual_seed(2))
    options = SamplerOptions(steps=4)
    together = sample_mels(ours, latents, voice, [torch.Generator().manual_seed(s) for s in (1, 2)], options)
    for i, seed in enumerate((1, 2)):
        [alone] = sample_mels(ours, [latents[i]], voice[i:i + 1], [torch.Generator().manual_seed(seed)], options)
        assert together[i].shape == alone.shape == (100, diffusion_output_frames(latents[i].shape[0]))
        _close(together[i], alone)


def test_sampling_is_determined_by_the_generators(models, inputs):
    _, ours = models
    voice = torch.zeros(1, 2 * TINY_DIFFUSION.model_channels)
    options = SamplerOptions(steps=3)

    def run(seed):
        return sample_mels(ours, [inputs["latents"][0]], voice, [torch.Generator().manual_seed(seed)], options)[0]

    assert torch.equal(run(4), run(4))
    assert not torch.equal(run(4), run(5))
    with pytest.raises(ValueError, match="one generator per item"):
        sample_mels(ours, [inputs["latents"][0]] * 2, voice, [torch.Generator()], options)


@pytest.mark.slow
def test_official_size_keys_parameters_and_forward():
    ref = _reference_model(OFFICIAL_DIFFUSION)
    ours = DiffusionTts(OFFICIAL_DIFFUSION).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert len(ours.state_dict()) == 359
    assert sum(p.numel() for p in ours.parameters()) == 292_334_380
    g = torch.Generator().manual_seed(0)
    latents, x = torch.randn(1, 8, 1024, generator=g), torch.randn(1, 100, 34, generator=g)
    voice_mels = torch.randn(1, 1, 100, 401, generator=g) - 4
    with torch.no_grad():
        voice = ref.get_conditioning(voice_mels)
        _close(ours.conditioning_latent(voice_mels), voice)
        emb = ref.timestep_independent(latents, voice, 34, False)
        _close(ours.aligned_embeddings(latents, voice, 34), emb)
        t = torch.tensor([2500])
        _close(ours(x, t, emb), ref(x, t, precomputed_aligned_embeddings=emb))
        _close(ours(x, t, ours.unconditioned_embeddings(1, 34)),
               ref(x, t, precomputed_aligned_embeddings=emb, conditioning_free=True))


@pytest.fixture
def exact_float32():
    """Plain float32 on the GPU (cuDNN would use TF32): lets GPU tests compare code paths at 1e-4."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.gpu
def test_gpu_float32_matches_cpu_and_bfloat16_stays_close(models, inputs, exact_float32):
    import copy

    _, ours = models
    gpu = copy.deepcopy(ours).cuda()
    voice = torch.randn(1, 2 * TINY_DIFFUSION.model_channels, generator=torch.Generator().manual_seed(6))
    t = torch.tensor([1500], device="cuda")
    with torch.no_grad():
        emb = gpu.aligned_embeddings(inputs["latents"].cuda(), voice.cuda(), FRAMES)
        x = inputs["x"].cuda()
        fp32 = gpu(x, t, emb)
        _close(fp32.cpu(), ours(inputs["x"], t.cpu(), emb.cpu()))
        with torch.autocast("cuda", dtype=torch.bfloat16):
            bf16 = gpu(x, t, emb).float()
    forward_error = ((bf16 - fp32).norm() / fp32.norm()).item()

    def sample(dtype, cuda_graph=True):
        g = torch.Generator("cuda").manual_seed(9)
        options = SamplerOptions(steps=10, dtype=dtype, cuda_graph=cuda_graph)
        return sample_mels(gpu, [inputs["latents"][0]], voice, [g], options)[0]

    reference, reduced = sample(torch.float32), sample(torch.bfloat16)
    sample_error = ((reduced - reference).norm() / reference.norm()).item()
    print(f"bf16 vs fp32: forward {forward_error:.2e}, 10-step mel {sample_error:.2e}")
    assert forward_error < 3e-2 and sample_error < 5e-2
    _close(sample(torch.float32, cuda_graph=False), reference)  # the graph replays the same computation


@pytest.mark.gpu
def test_gpu_graphed_batch_of_different_lengths_equals_items_alone(models, inputs, exact_float32):
    import copy

    gpu = copy.deepcopy(models[1]).cuda()
    latents = [inputs["latents"][0], inputs["latents"][0, :13] * 0.5]
    voice = torch.randn(2, 2 * TINY_DIFFUSION.model_channels, generator=torch.Generator().manual_seed(2))
    options = SamplerOptions(steps=4)
    together = sample_mels(gpu, latents, voice, [torch.Generator("cuda").manual_seed(s) for s in (1, 2)], options)
    for i, seed in enumerate((1, 2)):
        [alone] = sample_mels(gpu, [latents[i]], voice[i:i + 1], [torch.Generator("cuda").manual_seed(seed)], options)
        _close(together[i], alone)
