"""Benchmark of evalkit's TorToiSe pipeline per preset, beside tortoise-tts 3.0.0's figures.

    PYTHONPATH=. python benchmarks/bench_tortoise.py --device cuda                      # ultra_fast, fast, standard
    PYTHONPATH=. python benchmarks/bench_tortoise.py --device cuda --presets ultra_fast,fast --reference ultra_fast,fast
    PYTHONPATH=. python benchmarks/bench_tortoise.py --device cpu --size tiny --max-mel-tokens 16   # a smoke run

Models: official sizes (or `--size tiny`) with seeded random weights, resident on the device. Random weights
would stop at arbitrary points, so the AR model's logits for the stop token (and for the start token, which
CLVP cannot embed) are pinned to -1e4: every candidate then decodes exactly `--max-mel-tokens` codes (500:
~23.2 s of audio at 24 kHz), the workload of ../shared/REFERENCE-TIMINGS.md. Per preset: one untimed
warm-up call (CUDA graph capture, kernel selection), then one timed call; per stage the device is
synchronized at both ends. Printed: per-stage seconds, RTF (wall / audio seconds), peak GPU memory, and the
reference's figures from REFERENCE-TIMINGS.md with ratios (reference / ours; > 1 means faster here).

`--reference [PRESETS]` also runs tortoise-tts 3.0.0's own `TextToSpeech.tts()` (ultra_fast unless PRESETS names
others) in this process, after evalkit's presets, as shipped (kv_cache=True, half=True, autoregressive batches of
16, models moved to the GPU and back for each stage), around reference modules built directly with random weights
(its constructor downloads the checkpoints), so that a same-process ratio exists; its warm-up is one short call (30
codes: kernels and allocator, which is all it has to warm), so that the slow reference is not paid twice. Needs
`tortoise` and transformers <= 4.47.1.

The last line printed is one JSON object with every figure (`--json-out FILE` also writes it to FILE).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager

import torch

REFERENCE_LABEL = "reference measured 2026-11-28 on the same GPU model, not in this process"
# ../shared/REFERENCE-TIMINGS.md: tortoise-tts 3.0.0 as shipped, one H200, 500 codes (~23.2 s of audio).
REFERENCE_MEASURED = {
    "ultra_fast": {"wall_s": 32.6, "rtf": 1.41, "ar_sampling_s": 26.3, "diffusion_s": 2.44, "clvp_ranking_s": 0.09,
                   "peak_gpu_gib": 8.3},
    "fast": {"wall_s": 78.6, "rtf": 3.39, "ar_sampling_s": 61.5, "diffusion_s": 12.95, "clvp_ranking_s": 0.33,
             "peak_gpu_gib": 8.3},
}
REFERENCE_WARMUP_CODES = 30
TEXT = "The museum opens its new gallery of early photographs next week, and admission is free on Sundays."
VOICE_SECONDS = 6
FORBIDDEN_LOGIT = -1e4  # finite (bf16/fp16-safe) and far below any real logit
GIB = 2 ** 30


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, cpu or auto")
    parser.add_argument("--size", default="official", choices=("official", "tiny"))
    parser.add_argument("--presets", default="ultra_fast,fast,standard",
                        help="comma-separated: ultra_fast, fast, standard, high_quality")
    parser.add_argument("--max-mel-tokens", type=int, default=500)
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    parser.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--reference", nargs="?", const="ultra_fast", metavar="PRESETS",
                        help="also run tortoise-tts's own tts() for these presets (default: ultra_fast)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the figures (JSON) to FILE")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forbid_codes(mel_head: torch.nn.Linear, codes) -> None:
    with torch.no_grad():
        mel_head.bias[list(codes)] = FORBIDDEN_LOGIT


def voice_clip(seed: int) -> torch.Tensor:
    """A 6 s, 22.05 kHz stand-in voice (random weights make its content irrelevant)."""
    return torch.randn(VOICE_SECONDS * 22050, generator=torch.Generator().manual_seed(seed)) * 0.1


# -- evalkit ----------------------------------------------------------------------------------------


def build_pipeline(args):
    from evalkit.tortoise.models import ModelConfigs, StageDtypes, TortoiseModels, resolve_weights
    from evalkit.tortoise.pipeline import TortoisePipeline
    from evalkit.tortoise.presets import resolve

    device = torch.device(args.device)
    options = resolve({"size": args.size, "random_weights": True, "dtype": args.dtype})
    configs = ModelConfigs.for_size(args.size)
    start = time.perf_counter()
    models = TortoiseModels.load(configs, resolve_weights(options, configs), device,
                                 StageDtypes.for_device(args.dtype, device))
    ar = configs.autoregressive
    forbid_codes(models.autoregressive.mel_head, (ar.stop_mel_token, ar.start_mel_token))
    print(f"built {args.size} models with random weights on {device} in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)
    return TortoisePipeline(models, cuda_graph=args.cuda_graph)


def run_preset(pipeline, args, preset: str) -> dict:
    from evalkit.tortoise.presets import resolve

    options = resolve({"preset": preset, "size": args.size, "random_weights": True, "dtype": args.dtype,
                       "max_mel_tokens": args.max_mel_tokens, "cuda_graph": args.cuda_graph})
    clip = voice_clip(args.seed)
    pipeline.synthesize(TEXT, [clip], options, args.seed)  # warm-up: graphs, kernels, allocator
    synchronize(pipeline.device)
    start = time.perf_counter()
    speech = pipeline.synthesize(TEXT, [clip], options, args.seed + 1)
    synchronize(pipeline.device)
    wall = time.perf_counter() - start
    audio_s = len(speech.audio) / speech.sample_rate
    peak = speech.extras["peak_gpu_memory_bytes"]
    return {
        "candidates": options.num_autoregressive_samples, "diffusion_steps": options.diffusion_iterations,
        "cond_free": options.cond_free, "codes": speech.extras["chosen_tokens"], "audio_s": audio_s,
        "wall_s": wall, "rtf": wall / audio_s, **{f"{k}_s": v for k, v in speech.stages.items()},
        "ar_ms_per_step": 1000 * speech.stages["ar_sampling"] / max(speech.extras["chosen_tokens"], 1),
        "peak_gpu_gib": None if peak is None else peak / GIB,
    }


# -- tortoise-tts as shipped ------------------------------------------------------------------------


@contextmanager
def timed(owner, name: str, totals: dict, key: str, device: torch.device):
    """Time every call of `owner.name` (device-synchronized) into totals[key]."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        synchronize(device)
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            synchronize(device)
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - start

    shadowed = name in vars(owner)
    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        if shadowed:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


def build_reference(args):
    """tortoise's TextToSpeech around directly built, randomly initialised modules (api.py's hyperparameters at
    the official size; evalkit's tiny configs otherwise), models on the CPU between stages as it keeps them."""
    import dataclasses
    import warnings

    import tortoise.api as api
    from tortoise.models.autoregressive import UnifiedVoice
    from tortoise.models.clvp import CLVP
    from tortoise.models.diffusion_decoder import DiffusionTts
    from tortoise.models.vocoder import UnivNetGenerator
    from tortoise.utils.tokenizer import VoiceBpeTokenizer

    from evalkit.tortoise.models import ModelConfigs

    c = ModelConfigs.for_size(args.size)
    a, d, v = c.autoregressive, c.diffusion, c.vocoder
    torch.manual_seed(args.seed)
    ar = UnifiedVoice(layers=a.layers, model_dim=a.model_dim, heads=a.heads, max_text_tokens=a.max_text_tokens,
                      max_mel_tokens=a.max_mel_tokens, max_conditioning_inputs=a.max_conditioning_inputs,
                      number_text_tokens=a.number_text_tokens, start_text_token=a.start_text_token,
                      checkpointing=False, train_solo_embeddings=False).eval()
    forbid_codes(ar.mel_head, (ar.stop_mel_token, ar.start_mel_token))
    ar.post_init_gpt2_config(use_deepspeed=False, kv_cache=True, half=True)
    diffusion = DiffusionTts(model_channels=d.model_channels, num_layers=d.num_layers, in_channels=d.in_channels,
                             out_channels=d.out_channels, in_latent_channels=d.in_latent_channels,
                             in_tokens=d.in_tokens, dropout=0, use_fp16=False, num_heads=d.num_heads, layer_drop=0,
                             unconditioned_percentage=0).eval()
    clvp = CLVP(**dataclasses.asdict(c.clvp), text_seq_len=350, speech_seq_len=430, use_xformers=True).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # weight_norm deprecation
        vocoder = UnivNetGenerator(noise_dim=v.noise_dim, channel_size=v.channels, dilations=list(v.dilations),
                                   strides=list(v.strides), lReLU_slope=v.leaky_slope,
                                   kpnet_conv_size=v.kpnet_conv_size, n_mel_channels=v.n_mels)
    vocoder.eval(inference=True)
    tts = api.TextToSpeech.__new__(api.TextToSpeech)  # its __init__ downloads the official checkpoints
    vars(tts).update(autoregressive=ar, diffusion=diffusion, clvp=clvp, vocoder=vocoder, cvvp=None,
                     tokenizer=VoiceBpeTokenizer(), device=torch.device(args.device), half=True,
                     autoregressive_batch_size=16, enable_redaction=False, models_dir=None, rlg_auto=None,
                     rlg_diffusion=None)
    return api, tts


def run_reference(args, tts, api, preset: str) -> dict:
    device = torch.device(args.device)
    clip = voice_clip(args.seed)[None]
    stages: dict = {}

    def call(seed, codes=args.max_mel_tokens):
        return tts.tts_with_preset(TEXT, preset=preset, voice_samples=[clip], verbose=False,
                                   use_deterministic_seed=seed, max_mel_tokens=codes)

    call(args.seed, min(REFERENCE_WARMUP_CODES, args.max_mel_tokens))  # warm-up: kernels, allocator
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with timed(tts.autoregressive, "inference_speech", stages, "ar_sampling_s", device), \
            timed(api, "do_spectrogram_diffusion", stages, "diffusion_s", device):
        synchronize(device)
        start = time.perf_counter()
        wav = call(args.seed + 1)
        synchronize(device)
        wall = time.perf_counter() - start
    audio_s = wav.shape[-1] / 24000
    peak = torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None
    return {"preset": preset, "wall_s": wall, "rtf": wall / audio_s, "audio_s": audio_s, **stages,
            "peak_gpu_gib": peak, "configuration": "TextToSpeech(kv_cache=True, half=True), batches of 16"}


# -- report -------------------------------------------------------------------------------------------


def comparable_with_reference(args) -> bool:
    """The measured figures are for official sizes, 500 codes, on a GPU."""
    return args.size == "official" and args.max_mel_tokens == 500 and args.device.startswith("cuda")


def ratios(reference: dict, ours: dict) -> dict:
    return {k: reference[k] / ours[k] for k in ("wall_s", "rtf", "ar_sampling_s", "diffusion_s", "clvp_ranking_s")
            if reference.get(k) and ours.get(k)}


def print_table(results: dict, args) -> None:
    keys = ("candidates", "diffusion_steps", "audio_s", "wall_s", "rtf", "conditioning_s", "ar_sampling_s",
            "ar_ms_per_step", "clvp_ranking_s", "ar_latents_s", "diffusion_s", "vocoder_s", "peak_gpu_gib")
    for preset, row in results["presets"].items():
        print(f"\n{preset} ({args.size} size, random weights, {row['codes']} codes, device {args.device})")
        reference = REFERENCE_MEASURED.get(preset, {}) if comparable_with_reference(args) else {}
        for key in keys:
            value = row.get(key)
            line = f"  {key:<16} {'-' if value is None else f'{value:.4g}':>10}"
            if key in reference:
                line += f"   reference {reference[key]:.4g}  ratio {reference[key] / value:.2f}x" if value else ""
            print(line)
        if reference:
            print(f"  ({REFERENCE_LABEL})")
    for preset, same_run in results.get("reference_same_run", {}).items():
        ratios_here = results["same_run_ratios"].get(preset)
        print(f"\ntortoise-tts 3.0.0 {preset}, this process: wall {same_run['wall_s']:.2f} s, "
              f"RTF {same_run['rtf']:.3f}; ratios reference/ours: {json.dumps(ratios_here)}"
              if ratios_here else f"\ntortoise-tts 3.0.0 {preset}, this process: {json.dumps(same_run)}")


def main(argv=None) -> dict:
    from evalkit.api import resolve_device

    args = parse_args(argv)
    args.device = resolve_device(args.device)  # "auto": cuda when usable
    pipeline = build_pipeline(args)
    results = {
        "device": args.device,
        "gpu": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else None,
        "torch": torch.__version__, "size": args.size, "max_mel_tokens": args.max_mel_tokens, "dtype": args.dtype,
        "dtypes": pipeline.models.dtypes.to_json(), "cuda_graph": args.cuda_graph, "weights": "random (seeded)",
        "presets": {p: run_preset(pipeline, args, p) for p in args.presets.split(",")},
        "reference_measured": {"label": REFERENCE_LABEL, **REFERENCE_MEASURED},
    }
    if comparable_with_reference(args):
        results["reference_measured_ratios"] = {p: ratios(REFERENCE_MEASURED[p], row)
                                                for p, row in results["presets"].items() if p in REFERENCE_MEASURED}
    if args.reference:
        del pipeline  # free the device for the reference
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
        api, tts = build_reference(args)
        results["reference_same_run"] = {p: run_reference(args, tts, api, p) for p in args.reference.split(",")}
        results["same_run_ratios"] = {p: ratios(row, results["presets"][p])
                                      for p, row in results["reference_same_run"].items() if p in results["presets"]}
    print_table(results, args)
    print(json.dumps(results))
    if args.json_out:
        from pathlib import Path

        from evalkit.cache import atomic_write_bytes

        atomic_write_bytes(Path(args.json_out), (json.dumps(results, indent=1) + "\n").encode())
    return results


if __name__ == "__main__":
    main()
