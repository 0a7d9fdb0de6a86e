"""Scoring throughput: evalkit's batched scorers against a naive per-file loop.

ASR: one batched ``whisper.decode`` per batch (evalkit.metrics.asr) against
``whisper.transcribe`` called per clip on arrays. SIM: length-sorted batched ECAPA-TDNN
(evalkit.metrics.speaker) against one embedding pair at a time. Both sides process the
same clips with the same options; the figure is audio-seconds per second.

    PYTHONPATH=. python benchmarks/bench_score.py [--device cuda] [--quick]

CPU: real Whisper tiny.en and ECAPA when their offline providers are installed (random
weights otherwise), on espeak-ng speech when available. CUDA: Whisper large-v3
dimensions with random weights, float16, every clip decoding exactly --tokens tokens
(end-of-text suppressed), as in REFERENCE-TIMINGS.md (32 clips of 8 s, 32 tokens).
The last line of output is the figures as one JSON object (`--json-out FILE` also writes it to FILE).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from evalkit.metrics.asr import SAMPLE_RATE, AsrOptions, transcribe_batch
from evalkit.metrics.asr_backends import OpenAIWhisper

# openai-whisper's large-v3 dimensions (1.55 B parameters).
LARGE_V3 = dict(n_mels=128, n_audio_ctx=1500, n_audio_state=1280, n_audio_head=20, n_audio_layer=32,
                n_vocab=51866, n_text_ctx=448, n_text_state=1280, n_text_head=20, n_text_layer=32)  # fmt: skip
SENTENCES = [
    "Please call Stella and ask her to bring these things with her from the store.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob.",
    "We also need a small plastic snake and a big toy frog for the kids.",
    "The weather today is sunny with a light breeze from the west.",
]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def compare(batched, naive, clips: list, device: str, repeats: int) -> tuple[float, float]:
    """Best-of-`repeats` seconds of `batched(clips)` and `naive(clips)`, alternating, after
    a warm-up of each (first calls pay for kernel selection and allocation; a shared
    machine adds noise). The naive warm-up uses two clips: it is the slow side."""
    batched(clips), naive(clips[:2])
    times = [(timed(lambda: batched(clips), device), timed(lambda: naive(clips), device)) for _ in range(repeats)]
    return min(t[0] for t in times), min(t[1] for t in times)


def clips_for(n: int, seconds: float, speech: bool) -> list[np.ndarray]:
    """espeak-ng speech (cycled over voices and sentences) or band-limited noise."""
    if speech and shutil.which("espeak-ng"):
        from evalkit.audio import load_audio_at

        folder = Path(tempfile.mkdtemp(prefix="bench-score-"))
        out = []
        for i in range(n):
            path = folder / f"{i}.wav"
            voice = ("en-us+m3", "en-us+f3", "en-gb-x-rp")[i % 3]
            subprocess.run(["espeak-ng", "-v", voice, "-s", "130", "-w", str(path), SENTENCES[i % 4]], check=True)
            out.append(load_audio_at(path, SAMPLE_RATE))
        return out
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32) for _ in range(n)]


class FixedLengthWhisper(OpenAIWhisper):
    """Random weights stop at random: suppress end-of-text and decode exactly `tokens` tokens."""

    def __init__(self, options: AsrOptions, model, device: str, tokens: int) -> None:
        super().__init__(options, model, device)
        self.fixed = {"sample_len": tokens, "suppress_tokens": [-1, self.tokenizer.eot]}

    def _decoding_options(self, temperature: float):
        from dataclasses import replace

        return replace(super()._decoding_options(temperature), **self.fixed)


def whisper_model(device: str, random_weights: bool):
    """(model, description): real tiny.en on CPU when available, else random weights."""
    import whisper
    from whisper.model import ModelDimensions, Whisper

    if not device.startswith("cuda"):
        try:
            if random_weights:
                raise RuntimeError("--random")
            from evalkit.weights import resolve

            return whisper.load_model(str(resolve("whisper/tiny.en").path), device=device), "tiny.en (real)"
        except Exception as exc:  # noqa: BLE001 - fall back to random weights, and say why
            print(f"tiny.en unavailable ({exc}); using random weights", file=sys.stderr)
        dims = dict(LARGE_V3, n_mels=80, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
                    n_vocab=51864, n_text_state=384, n_text_head=6, n_text_layer=4)  # fmt: skip
        return Whisper(ModelDimensions(**dims)).to(device), "tiny.en dimensions (random)"
    with torch.device(device):
        model = Whisper(ModelDimensions(**LARGE_V3))
    return model.eval(), "large-v3 dimensions (random)"


def bench_asr(
    device: str, clips: list[np.ndarray], batch: int, tokens: int, repeats: int, random_weights: bool
) -> dict:
    import whisper

    model, description = whisper_model(device, random_weights)
    fp16 = device.startswith("cuda")
    options = AsrOptions(model="bench", compute_type="float16" if fp16 else "float32")
    if "random" in description:
        backend = FixedLengthWhisper(options, model, device, tokens)
        extra = backend.fixed
    else:
        backend, extra = OpenAIWhisper(options, model, device), {}

    def batched(subset):
        for start in range(0, len(subset), batch):
            transcribe_batch(backend, subset[start : start + batch])

    def naive(subset):
        for clip in subset:
            whisper.transcribe(model, clip, language="en", temperature=0.0, without_timestamps=True, fp16=fp16,
                               condition_on_previous_text=False, verbose=None, **extra)  # fmt: skip

    t_batched, t_naive = compare(batched, naive, clips, device, repeats)
    seconds = sum(len(c) for c in clips) / SAMPLE_RATE
    return _figures("asr", description, len(clips), seconds / t_batched, seconds / t_naive, batch=batch)


def bench_sim(device: str, clips: list[np.ndarray], repeats: int, random_weights: bool) -> dict:
    from evalkit.metrics.speaker import ECAPA_ARCH, EcapaEmbedder, cosine

    try:
        from evalkit.weights import resolve

        if random_weights:
            raise RuntimeError("--random")
        embedder, description = (
            EcapaEmbedder(str(resolve("speechbrain/spkrec-ecapa-voxceleb").path), device),
            "ECAPA (real)",
        )
    except Exception as exc:  # noqa: BLE001
        print(f"ECAPA weights unavailable ({exc}); using random weights", file=sys.stderr)
        checkpoint = Path(tempfile.mkdtemp()) / "ecapa.ckpt"
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

        torch.save(ECAPA_TDNN(**ECAPA_ARCH).state_dict(), checkpoint)
        embedder, description = EcapaEmbedder(str(checkpoint), device), "ECAPA (random)"

    # Each clip is compared with the next one, standing in for its speaker prompt.
    def batched(subset):
        embedder.embed(subset + subset[1:] + subset[:1])

    def naive(subset):
        for gen, prompt in zip(subset, subset[1:] + subset[:1]):
            cosine(embedder.embed([gen])[0], embedder.embed([prompt])[0])

    t_batched, t_naive = compare(batched, naive, clips, device, repeats)
    seconds = 2 * sum(len(c) for c in clips) / SAMPLE_RATE
    return _figures("sim", description, len(clips), seconds / t_batched, seconds / t_naive)


def _figures(name: str, model: str, n: int, batched: float, naive: float, **extra) -> dict:
    row = {"model": model, "clips": n, "batched_audio_s_per_s": round(batched, 1),
           "naive_audio_s_per_s": round(naive, 1), "ratio": round(batched / naive, 2), **extra}  # fmt: skip
    print(f"{name}: {model}, {n} clips: batched {batched:.1f} audio-s/s, naive {naive:.1f} audio-s/s, "
          f"ratio {batched / naive:.2f}x")  # fmt: skip
    return row


def main() -> None:
    # Weights come from the cache or offline providers, else random: never wait on a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer clips")
    parser.add_argument("--clips", type=int, help="clips per side (default: 32 on CUDA, 8 on CPU; halved by --quick)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of synthetic clips")
    parser.add_argument("--batch", type=int, help="ASR batch size (default: all clips at once)")
    parser.add_argument("--tokens", type=int, default=32, help="decoded tokens per clip with random weights")
    parser.add_argument("--random", action="store_true", help="random weights even where real ones are available")
    parser.add_argument("--repeats", type=int, help="timed runs per side, best kept (default 2; 1 with --quick)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the figures (JSON) to FILE")
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    n = args.clips or (32 if cuda else 8) // (2 if args.quick else 1)
    torch.manual_seed(0)
    clips = clips_for(n, args.seconds, speech=not cuda)
    result = {"device": args.device, "gpu": torch.cuda.get_device_name() if cuda else None,
              "torch": torch.__version__, "audio_seconds": round(sum(map(len, clips)) / SAMPLE_RATE, 1)}  # fmt: skip
    repeats = args.repeats or (1 if args.quick else 2)
    result["asr"] = bench_asr(args.device, clips, args.batch or n, args.tokens, repeats, args.random)
    try:
        result["sim"] = bench_sim(args.device, clips, repeats, args.random)
    except ImportError as exc:
        print(f"sim: skipped ({exc})")
        result["sim"] = None
    print(json.dumps(result))
    if args.json_out:
        from evalkit.cache import atomic_write_bytes

        atomic_write_bytes(Path(args.json_out), (json.dumps(result, indent=1) + "\n").encode())


if __name__ == "__main__":
    main()
