"""The whole chain against tortoise-tts 3.0.0's own `TextToSpeech.tts()`, on identical tiny random weights (CPU).

`TextToSpeech()` downloads its checkpoints, so the reference object is assembled without its constructor,
from reference modules built with evalkit's tiny configs; then its real `tts()` runs: conditioning latents,
AR sampling (Hugging Face `generate`, uncached: the path the model was trained with), CLVP ranking,
the return-latent pass, the calm-code cut, p-sampling diffusion and the UnivNet vocoder, all drawing from the
global RNG after `torch.manual_seed(seed)` - which is what one evalkit generator seeded `seed` reproduces.
"""
import contextlib
import os
import warnings

import pytest
import torch

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # only a speed-up (installed with scikit-learn)
    def threadpool_limits(limits):
        return contextlib.nullcontext()

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from evalkit.tortoise.autoregressive import MAX_CALM_RUN, UnifiedVoice  # noqa: E402
from evalkit.tortoise.clvp import CLVP  # noqa: E402
from evalkit.tortoise.diffusion import DiffusionTts  # noqa: E402
from evalkit.tortoise.models import ModelConfigs, StageDtypes, TortoiseModels  # noqa: E402
from evalkit.tortoise.pipeline import STAGES, StageClock, TortoisePipeline, crop_seed  # noqa: E402
from evalkit.tortoise.presets import resolve  # noqa: E402
from evalkit.tortoise.system import load_voice_clip  # noqa: E402
from evalkit.tortoise.vocoder import UnivNetGenerator, convert_official_state_dict  # noqa: E402

CONFIGS = ModelConfigs.for_size("tiny")
STOP = CONFIGS.autoregressive.stop_mel_token
TEXT = "Dr. Smith will see you at 7."
PROMPT = os.path.join(os.path.dirname(__file__), "..", "..", "suites", "smoke", "audio", "prompt-rp.flac")
# Waveform tolerance (relative L2): the components agree to float32 rounding (~1e-7..1e-6: mel features, SDPA
# vs explicit attention, batched guidance), which p-sampling and the vocoder carry through. Measured: 0.7-1.5e-6.
WAVEFORM_RTOL = 1e-4

pytestmark = pytest.mark.usefixtures("single_thread")


class Recorded(torch.nn.Module):
    """Wraps a reference module and keeps what it returned (tts() does not return CLVP's scores)."""

    def __init__(self, module):
        super().__init__()
        self.module, self.outputs = module, []

    def forward(self, *args, **kwargs):
        self.outputs.append(self.module(*args, **kwargs))
        return self.outputs[-1]


def _reference_diffusion(config):
    from tortoise.models.diffusion_decoder import DiffusionTts

    return DiffusionTts(model_channels=config.model_channels, num_layers=config.num_layers,
                        in_channels=config.in_channels, out_channels=config.out_channels,
                        in_latent_channels=config.in_latent_channels, in_tokens=config.in_tokens, dropout=0,
                        use_fp16=False, num_heads=config.num_heads, layer_drop=0, unconditioned_percentage=0).eval()


def _reference_vocoder(config):
    from tortoise.models.vocoder import UnivNetGenerator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm deprecation
        return UnivNetGenerator(noise_dim=config.noise_dim, channel_size=config.channels,
                                dilations=list(config.dilations), strides=list(config.strides),
                                lReLU_slope=config.leaky_slope, kpnet_conv_size=config.kpnet_conv_size,
                                n_mel_channels=config.n_mels)


@pytest.fixture(scope="module")
def pair(reference, perturb):
    """tortoise's TextToSpeech around perturbed tiny reference modules, and evalkit's models with the same weights."""
    from tortoise.api import TextToSpeech
    from tortoise.utils.tokenizer import VoiceBpeTokenizer

    torch.manual_seed(0)
    ref = {
        "autoregressive": perturb(reference.autoregressive(CONFIGS.autoregressive), seed=1),
        "clvp": perturb(reference.clvp(CONFIGS.clvp), seed=2),
        "diffusion": perturb(_reference_diffusion(CONFIGS.diffusion), seed=3),
        "vocoder": perturb(_reference_vocoder(CONFIGS.vocoder), seed=4),
    }
    with torch.no_grad():  # some candidates stop early, so the stop/calm-code path is part of the check
        ref["autoregressive"].mel_head.bias[STOP] += 2.0
    ours = {
        "autoregressive": UnifiedVoice(CONFIGS.autoregressive), "clvp": CLVP(CONFIGS.clvp),
        "diffusion": DiffusionTts(CONFIGS.diffusion), "vocoder": UnivNetGenerator(CONFIGS.vocoder),
    }
    for name, module in ours.items():
        state = ref[name].state_dict()
        module.load_state_dict(convert_official_state_dict({"model_g": state}) if name == "vocoder" else state,
                               strict=True)
        module.eval()
    ref["autoregressive"].post_init_gpt2_config(kv_cache=False)  # the uncached (trained) decoding path
    ref["vocoder"].eval(inference=True)  # api.py's vocoder.eval(inference=True): weight norm folded

    tts = TextToSpeech.__new__(TextToSpeech)  # its __init__ downloads the official checkpoints
    vars(tts).update(ref, clvp=Recorded(ref["clvp"]), cvvp=None, device=torch.device("cpu"), half=False,
                     enable_redaction=False,
                     tokenizer=VoiceBpeTokenizer(), models_dir=None, rlg_auto=None, rlg_diffusion=None)
    models = TortoiseModels(CONFIGS, torch.device("cpu"), StageDtypes(), **ours)
    # tts() builds a TacotronSTFT per call, whose constructor takes the pseudo-inverse of a 1026 x 1024
    # basis: ~1 s on one BLAS thread, 3-4 s when two threads contend for two busy cores (as single_thread).
    with threadpool_limits(1):
        yield tts, TortoisePipeline(models)


@pytest.fixture(scope="module")
def clip():
    return load_voice_clip(PROMPT)


# Seeds chosen so that some candidates stop early and, in the first case, the chosen one does: the
# stop-token fix and the calm-code cut of tts() are then part of the comparison.
@pytest.mark.parametrize("cond_free, max_batch, seed, cut", [(True, None, 1, True), (False, 2, 1, False)])
def test_waveform_equals_reference_tts(pair, clip, cond_free, max_batch, seed, cut):
    tts, pipeline = pair
    candidates = 4
    options = resolve({"size": "tiny", "num_autoregressive_samples": candidates, "max_mel_tokens": 24,
                       "diffusion_iterations": 4, "cond_free": cond_free, "max_batch": max_batch})
    tts.autoregressive_batch_size = max_batch or candidates  # tortoise samples in batches of this size
    with torch.no_grad():
        expected = tts.tts(TEXT, voice_samples=[clip[None]], k=1, verbose=False, use_deterministic_seed=seed,
                           num_autoregressive_samples=candidates, temperature=options.temperature,
                           top_p=options.top_p, repetition_penalty=options.repetition_penalty,
                           max_mel_tokens=options.max_mel_tokens, diffusion_iterations=options.diffusion_iterations,
                           cond_free=cond_free, cond_free_k=options.cond_free_k,
                           diffusion_temperature=options.diffusion_temperature)[0, 0]
    reference_scores = torch.cat(tts.clvp.outputs)
    tts.clvp.outputs.clear()
    torch.manual_seed(12345)  # evalkit's result must not depend on the global RNG
    speech = pipeline.synthesize(TEXT, [clip], options, seed)
    assert speech.audio.shape == expected.shape
    error = float((speech.audio - expected).norm() / expected.norm())
    assert error < WAVEFORM_RTOL, error
    extras = speech.extras
    assert extras["stop_reasons"]["stop_token"] > 0 and extras["silence_truncated"] == cut
    assert extras["num_candidates"] == candidates and len(extras["clvp_scores"]) == candidates
    # The reported score is tortoise's own: CLVP on the padded, fixed codes of the chosen candidate.
    assert extras["clvp_scores"] == pytest.approx(reference_scores.tolist(), abs=1e-4)
    assert extras["chosen_clvp_score"] == pytest.approx(float(reference_scores.max()), rel=1e-5)
    assert speech.audio.shape[0] == extras["latent_frames"] * 4 * 24000 // 22050 * 256
    assert set(speech.stages) == set(STAGES)


def test_silence_cut_is_reported(pair, clip):
    _, pipeline = pair
    options = resolve({"size": "tiny", "num_autoregressive_samples": 4, "max_mel_tokens": 24,
                       "diffusion_iterations": 2})
    reports = [pipeline.synthesize(TEXT, [clip], options, seed).extras for seed in range(6)]
    cut = [r for r in reports if r["silence_truncated"]]
    kept = [r for r in reports if not r["silence_truncated"]]
    assert cut and kept, "these seeds should give both outcomes"
    for r in cut:
        assert r["chosen_stop_reason"] == "stop_token"
        # The stop token became calm codes; latents end at the code where the run first exceeds 8.
        assert r["silence_truncation_code"] == r["latent_frames"] == r["chosen_tokens"] + MAX_CALM_RUN
        assert r["silence_dropped_codes"] == 0
    for r in kept:
        assert r["silence_truncation_code"] is None and r["latent_frames"] == 24


def test_cvvp_blends_into_the_ranking(pair, clip, reference, perturb):
    from evalkit.tortoise.cvvp import CVVP

    _, pipeline = pair
    cvvp = CVVP(CONFIGS.cvvp).eval()
    cvvp.load_state_dict(perturb(reference.cvvp(CONFIGS.cvvp), seed=5).state_dict())
    models = TortoiseModels(**{**vars(pipeline.models), "cvvp": cvvp})
    with_cvvp = TortoisePipeline(models)
    for amount in (0.5, 1.0):
        options = resolve({"size": "tiny", "num_autoregressive_samples": 5, "max_mel_tokens": 16,
                           "diffusion_iterations": 2, "cvvp_amount": amount})
        extras = with_cvvp.synthesize(TEXT, [clip, clip[:30000]], options, 1).extras
        blended = [amount * v + (1 - amount) * c for v, c in zip(extras["cvvp_scores"], extras["clvp_scores"])]
        assert blended[extras["chosen_candidate"]] == pytest.approx(max(blended), abs=1e-3)
        assert extras["chosen_cvvp_score"] == pytest.approx(extras["cvvp_scores"][extras["chosen_candidate"]], abs=1e-4)


def test_several_voice_clips_equal_reference_tts(pair, clip):
    """A voice of two clips (a suite's extra_prompt_audio, or a --voice folder): tortoise encodes each clip and
    averages the latents, on both the AR and the diffusion side. Clips under 6 s, so no crop is drawn."""
    tts, pipeline = pair
    clips = [clip[:120000], clip[30000:60000]]
    options = resolve({"size": "tiny", "num_autoregressive_samples": 2, "max_mel_tokens": 16,
                       "diffusion_iterations": 3})
    tts.autoregressive_batch_size = 2
    with torch.no_grad():
        expected = tts.tts(TEXT, voice_samples=[c[None] for c in clips], k=1, verbose=False,
                           use_deterministic_seed=5, num_autoregressive_samples=2, temperature=options.temperature,
                           top_p=options.top_p, repetition_penalty=options.repetition_penalty,
                           max_mel_tokens=options.max_mel_tokens, diffusion_iterations=options.diffusion_iterations,
                           cond_free=options.cond_free, cond_free_k=options.cond_free_k,
                           diffusion_temperature=options.diffusion_temperature)[0, 0]
    tts.clvp.outputs.clear()
    speech = pipeline.synthesize(TEXT, clips, options, 5)
    assert speech.extras["voice_clips"] == 2 and speech.audio.shape == expected.shape
    error = float((speech.audio - expected).norm() / expected.norm())
    assert error < WAVEFORM_RTOL, error
    one_clip = pipeline.synthesize(TEXT, clips[:1], options, 5)
    assert not torch.equal(one_clip.audio[: len(speech.audio)], speech.audio[: len(one_clip.audio)])


def test_long_clips_are_cropped_by_the_item_seed(pair):
    _, pipeline = pair
    long_clip = torch.randn(22050 * 9, generator=torch.Generator().manual_seed(0)) * 0.1

    @torch.inference_mode()  # as inside the pipeline
    def latent(seed):
        return pipeline.conditioning([long_clip], torch.Generator().manual_seed(crop_seed(seed))).ar_latent

    assert torch.equal(latent(1), latent(1))
    assert not torch.equal(latent(1), latent(2))  # a 9 s clip: the 6 s window moves with the seed
    assert crop_seed(1) != 1


def test_stage_clock_accumulates_named_stages():
    clock = StageClock(torch.device("cpu"))
    for _ in range(2):
        with clock.stage("a"):
            pass
    with clock.stage("b"):
        sum(range(10000))
    assert set(clock.seconds) == {"a", "b"} and all(s >= 0 for s in clock.seconds.values())


@pytest.mark.gpu
def test_cuda_pipeline_float32_and_bfloat16(clip):
    """On CUDA (CUDA graphs; float32, then "auto" = bfloat16 AR + diffusion): finite audio in range, the
    same candidates and pick for the same seed, peak memory reported. Oracle-free: random tiny weights."""
    from evalkit.tortoise.models import resolve_weights

    options = resolve({"size": "tiny", "random_weights": True, "num_autoregressive_samples": 8, "max_mel_tokens": 40,
                       "diffusion_iterations": 6})
    weights = resolve_weights(options, CONFIGS)
    for dtype in ("float32", "auto"):
        dtypes = StageDtypes.for_device(dtype, torch.device("cuda"))
        pipeline = TortoisePipeline(TortoiseModels.load(CONFIGS, weights, "cuda", dtypes))
        first, again = (pipeline.synthesize(TEXT, [clip], options, 7) for _ in range(2))
        assert pipeline.sampler._graphs, "no CUDA graph was captured"
        for key in ("tokens_per_candidate", "chosen_candidate", "clvp_scores", "latent_frames"):
            assert first.extras[key] == again.extras[key], key
        torch.testing.assert_close(first.audio, again.audio, rtol=1e-4, atol=1e-4)
        assert torch.isfinite(first.audio).all() and first.audio.abs().max() <= 1
        assert first.extras["peak_gpu_memory_bytes"] > 0
        assert first.extras["dtype"]["autoregressive"] == ("bfloat16" if dtype == "auto" else "float32")


def test_bfloat16_pipeline_on_cpu(clip):
    """The reduced-precision wiring that `dtype=auto` uses on CUDA, exercised without a GPU: a bfloat16 AR
    model and KV cache, the diffusion decoder under bfloat16 autocast, float32 CLVP/CVVP/vocoder fed from
    them. Deterministic for a seed, finite audio in range, and its AR latents track float32's."""
    from evalkit.tortoise.models import resolve_weights

    options = resolve({"size": "tiny", "random_weights": True, "num_autoregressive_samples": 4, "max_mel_tokens": 30,
                       "diffusion_iterations": 4, "cvvp_amount": 0.5})
    weights = resolve_weights(options, CONFIGS)
    pipelines = {dtype: TortoisePipeline(TortoiseModels.load(CONFIGS, weights, "cpu",
                                                             StageDtypes.for_device(dtype, torch.device("cpu"))))
                 for dtype in ("float32", "bfloat16")}
    reduced = pipelines["bfloat16"]
    ar = reduced.models.autoregressive
    assert ar.gpt.h[0].attn.c_attn.weight.dtype == torch.bfloat16 and ar.mel_embedding.weight.dtype == torch.bfloat16
    # The sampled logits are float32 products (the reference's fp16 autocast is finer than a bf16 head).
    assert ar.mel_head.weight.dtype == torch.float32 and ar.final_norm.weight.dtype == torch.float32
    first, again = (reduced.synthesize(TEXT, [clip], options, 3) for _ in range(2))
    assert torch.equal(first.audio, again.audio) and first.extras == again.extras
    assert torch.isfinite(first.audio).all() and first.audio.abs().max() <= 1 and first.audio.dtype == torch.float32
    assert first.extras["dtype"]["autoregressive"] == "bfloat16" and first.extras["dtype"]["vocoder"] == "float32"
    assert len(first.extras["cvvp_scores"]) == 4
    # Same codes through both models: the bfloat16 latents the diffusion decoder reads stay near float32's.
    generator = torch.Generator().manual_seed(0)
    codes = torch.randint(0, CONFIGS.autoregressive.start_mel_token, (1, 20), generator=generator)
    tokens = torch.arange(5, 25)[None]
    latents = {}
    for dtype, pipeline in pipelines.items():
        with torch.inference_mode():
            voice = pipeline.conditioning([clip], torch.Generator().manual_seed(0))
            latents[dtype] = pipeline.models.autoregressive.latents(voice.ar_latent, tokens, codes).float()
    error = (latents["bfloat16"] - latents["float32"]).norm() / latents["float32"].norm()
    # measured 0.0062 (tiny model): bfloat16 keeps 8 significant bits, ~0.4 % per rounding
    assert error < 0.05, f"bfloat16 AR latents {error:.3f} relative L2 from float32"
