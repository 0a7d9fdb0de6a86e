"""GPU benchmark: evalkit's TorToiSe diffusion decoder, sampler and vocoder against tortoise-tts 3.0.0.

Official sizes with random weights (shared between the two implementations), ~23 s of audio per item
(500 AR latents -> 2176 mel frames). Prints a table of median times and relative errors; writes JSON to
--out. Needs CUDA and the reference package importable (`tortoise`), e.g. on PYTHONPATH.

    python benchmarks/tortoise_decoder.py --out results.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def _median_ms(fn, iters: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _wall_s(fn) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def _models(device):
    from tortoise.models.diffusion_decoder import DiffusionTts as ReferenceDiffusion
    from tortoise.models.vocoder import UnivNetGenerator as ReferenceVocoder

    from evalkit.tortoise.diffusion import DiffusionTts
    from evalkit.tortoise.vocoder import UnivNetGenerator, convert_official_state_dict

    torch.manual_seed(0)
    ref = ReferenceDiffusion(model_channels=1024, num_layers=10, in_channels=100, out_channels=200,
                             in_latent_channels=1024, in_tokens=8193, dropout=0, use_fp16=False, num_heads=16,
                             layer_drop=0, unconditioned_percentage=0).eval()
    with torch.no_grad():  # attention outputs are zero-initialised: give every path signal
        for p in ref.parameters():
            p.add_(0.02 * torch.randn_like(p))
    ours = DiffusionTts().eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref_vocoder = ReferenceVocoder()
    ref_vocoder.eval()
    ours_vocoder = UnivNetGenerator().eval()
    ours_vocoder.load_state_dict(convert_official_state_dict({"model_g": ref_vocoder.state_dict()}), strict=True)
    ref_vocoder.eval(inference=True)
    return ref.to(device), ours.to(device), ref_vocoder.to(device), ours_vocoder.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--steps", type=int, default=80)
    args = parser.parse_args()

    from tortoise.utils.diffusion import SpacedDiffusion, get_named_beta_schedule
    from tortoise.utils.diffusion import space_timesteps as ref_space_timesteps

    from evalkit.tortoise.audio import denormalize_tacotron_mel, diffusion_output_frames
    from evalkit.tortoise.diffusion import reuse_attention_biases
    from evalkit.tortoise.sampler import SamplerOptions, sample_mels

    device = torch.device("cuda")
    ref, ours, ref_vocoder, ours_vocoder = _models(device)
    results: dict[str, float] = {}
    g = torch.Generator(device="cuda").manual_seed(0)
    latents = torch.randn(1, 500, 1024, device=device, generator=g)
    frames = diffusion_output_frames(500)
    with torch.inference_mode():
        voice = ref.get_conditioning(torch.randn(1, 2, 100, 401, device=device, generator=g) - 4)
        emb = ref.timestep_independent(latents, voice, frames, False)
        x = torch.randn(1, 100, frames, device=device, generator=g)
        t = torch.tensor([2000], device=device)
        uncond = ours.unconditioned_embeddings(1, frames)

        # One denoising step's model work: the reference's two batch-1 passes vs one batch of two.
        results["ref_forward_b1_fp32_ms"] = _median_ms(lambda: ref(x, t, precomputed_aligned_embeddings=emb), 10)
        x2, emb2 = torch.cat([x, x]), torch.cat([emb, uncond])
        results["ours_forward_b2_fp32_ms"] = _median_ms(lambda: ours(x2, t, emb2), 10)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            results["ours_forward_b2_bf16_ms"] = _median_ms(lambda: ours(x2, t, emb2), 20)
            with reuse_attention_biases(ours):  # as inside sample_mels
                results["ours_forward_b2_bf16_reused_bias_ms"] = _median_ms(lambda: ours(x2, t, emb2), 20)
            x8, emb8 = x.repeat(8, 1, 1), torch.cat([emb, uncond] * 4)
            results["ours_forward_b8_bf16_ms"] = _median_ms(lambda: ours(x8, t, emb8), 10)
            bf16_out = ours(x2, t, emb2).float()
        ref_cond = ref(x, t, precomputed_aligned_embeddings=emb)
        ref_uncond = ref(x, t, precomputed_aligned_embeddings=emb, conditioning_free=True)
        ours_out = ours(x2, t, emb2)
        results["forward_fp32_rel_err_cond"] = _rel(ours_out[:1], ref_cond)
        results["forward_fp32_rel_err_uncond"] = _rel(ours_out[1:], ref_uncond)
        results["forward_bf16_rel_err_cond"] = _rel(bf16_out[:1], ref_cond)

        # Full sampling with guidance (preset "fast": 80 steps, cond_free_k 2).
        steps, seed = args.steps, 1
        diffuser = SpacedDiffusion(use_timesteps=ref_space_timesteps(4000, [steps]), model_mean_type="epsilon",
                                   model_var_type="learned_range", loss_type="mse",
                                   betas=get_named_beta_schedule("linear", 4000), conditioning_free=True,
                                   conditioning_free_k=2.0)
        ref_mel = {}

        def reference_sample():
            torch.manual_seed(seed)
            noise = torch.randn(1, 100, frames, device=device)
            ref_mel["mel"] = denormalize_tacotron_mel(diffuser.p_sample_loop(
                ref, (1, 100, frames), noise=noise, model_kwargs={"precomputed_aligned_embeddings": emb}))

        results["ref_sample_s"] = _wall_s(reference_sample)
        ours_mel = {}

        def ours_sample(dtype, key):
            options = SamplerOptions(steps=steps, dtype=dtype)
            ours_mel[key] = sample_mels(ours, [latents[0]], voice, [torch.Generator("cuda").manual_seed(seed)],
                                        options)[0]

        eager = SamplerOptions(steps=steps, dtype=torch.bfloat16, cuda_graph=False)
        results["ours_sample_bf16_eager_s"] = _wall_s(lambda: sample_mels(
            ours, [latents[0]], voice, [torch.Generator("cuda").manual_seed(seed)], eager))
        ours_sample(torch.float32, "fp32")  # warm-up
        results["ours_sample_fp32_s"] = _wall_s(lambda: ours_sample(torch.float32, "fp32"))
        ours_sample(torch.bfloat16, "bf16")
        results["ours_sample_bf16_s"] = _wall_s(lambda: ours_sample(torch.bfloat16, "bf16"))
        results["sample_fp32_vs_ref_rel_err"] = _rel(ours_mel["fp32"], ref_mel["mel"][0])
        results["sample_bf16_vs_fp32_rel_err"] = _rel(ours_mel["bf16"], ours_mel["fp32"])
        # Four utterances of different lengths decoded together (bf16) vs one after another: ~23 s and ~5 s each.
        options = SamplerOptions(steps=steps, dtype=torch.bfloat16)
        for label, sizes in (("long", (500, 420, 350, 280)), ("short", (120, 100, 90, 80))):
            items = [latents[0, :n] for n in sizes]
            generators = [torch.Generator("cuda").manual_seed(s) for s in range(4)]
            pairs = list(zip(items, generators))
            results[f"ours_sample_bf16_4{label}_batched_s"] = _wall_s(
                lambda items=items, generators=generators: sample_mels(ours, items, voice, generators, options))
            results[f"ours_sample_bf16_4{label}_sequential_s"] = _wall_s(
                lambda pairs=pairs: [sample_mels(ours, [item], voice, [gen], options) for item, gen in pairs])
            results[f"ours_sample_bf16_4{label}_sequential_eager_s"] = _wall_s(
                lambda pairs=pairs: [sample_mels(ours, [item], voice, [gen], eager) for item, gen in pairs])

        # Vocoder on the sampled mel, fixed noise.
        mel = ours_mel["fp32"][None]
        z = torch.randn(1, 64, frames + 10, device=device, generator=g)
        results["ref_vocoder_ms"] = _median_ms(lambda: ref_vocoder.inference(mel, z), 5)
        results["ours_vocoder_ms"] = _median_ms(lambda: ours_vocoder.inference(mel, noise=z), 5)
        results["vocoder_rel_err"] = _rel(ours_vocoder.inference(mel, noise=z), ref_vocoder.inference(mel, z))
    results["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30

    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:.4g}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "steps": args.steps,
                       "frames": frames, **results}, f, indent=2)


if __name__ == "__main__":
    main()
