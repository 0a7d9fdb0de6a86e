"""`tortoise`: the TorToiSe five-model pipeline as an evalkit system.

    evalkit run --suite librispeech --system tortoise --preset fast
    evalkit run --suite smoke --system tortoise --option size=tiny --option random_weights=true   # noise, in seconds

Options are those of `presets.TortoiseOptions` (every one overridable with `--option key=value`; `--preset`,
`--checkpoint component=path`); `config()` records all of them as resolved, so run.json and the generation
cache key see the exact configuration. Each item's speaker prompt is its voice (TorToiSe cannot speak
without one: an item without a prompt fails). Output for an item depends only on its seed: items are
synthesized one after another, each with its own generators (see pipeline.py). See docs/tortoise.md.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from evalkit.audio import AudioError
from evalkit.systems.base import System
from evalkit.tortoise import presets
from evalkit.types import EvalkitError, Item, ItemError, ItemFailure, Synthesis

RANDOM_WEIGHTS_WARNING = ("RANDOM WEIGHTS: models initialised from a seed, no checkpoint; "
                          "the audio is noise (tests and benchmarks only)")


def load_voice_clip(path):
    """A speaker prompt as tortoise reads one: mono, resampled to 22.05 kHz (torchaudio), clipped to [-1, 1]."""
    import torch
    import torchaudio.functional as AF

    from evalkit.audio import load_audio
    from evalkit.tortoise.audio import AR_SAMPLE_RATE

    audio, rate = load_audio(path)
    clip = torch.from_numpy(audio)
    if rate != AR_SAMPLE_RATE:
        clip = AF.resample(clip, rate, AR_SAMPLE_RATE)
    return clip.clamp(-1, 1)


class TortoiseSystem(System):
    name = "tortoise"
    description = "TorToiSe five-model pipeline (AR + CLVP + CVVP + diffusion + UnivNet)"
    needs_prompt = True
    extra_metrics = ("clvp", "stops")  # its chosen CLVP score; how AR decoding ended (extras)
    batch_size = 1  # items run one after another anyway (see the module docstring)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.resolved = presets.resolve(self.options)  # unknown preset or bad value: a clear error, now
        self._weights: dict | None = None  # component -> models.ComponentWeights, resolved once
        self._pipeline = None
        self._check_capacity()

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return presets.option_defaults()

    def _check_capacity(self) -> None:
        from evalkit.tortoise.models import ModelConfigs

        limit = ModelConfigs.for_size(self.resolved.size).autoregressive.mel_positions - 1
        if self.resolved.max_mel_tokens > limit:
            raise EvalkitError(f"max_mel_tokens={self.resolved.max_mel_tokens} exceeds the autoregressive model's "
                               f"{limit} mel positions")

    def config(self) -> dict[str, Any]:
        """Every option as resolved. Checkpoint overrides appear as "override": their paths and content
        hashes are in `checkpoints()` (so a file moved elsewhere still hits the generation cache)."""
        options = self.resolved.to_json()
        options["checkpoints"] = {component: "override" for component in options["checkpoints"]}
        config = {"name": self.name, "options": options}
        if self.resolved.random_weights:
            config["warning"] = RANDOM_WEIGHTS_WARNING
        return config

    def checkpoints(self) -> Mapping[str, Mapping[str, Any]]:
        """Every component the configuration loads, with its sha256 (random weights: a hash of the init recipe)."""
        if self._weights is None:
            from evalkit.tortoise.models import ModelConfigs, resolve_weights

            self._weights = resolve_weights(self.resolved, ModelConfigs.for_size(self.resolved.size))
        return {component: weights.to_json() for component, weights in self._weights.items()}

    def setup(self, device: str) -> None:
        import torch

        from evalkit.tortoise.models import ModelConfigs, StageDtypes, TortoiseModels
        from evalkit.tortoise.pipeline import TortoisePipeline

        self.checkpoints()
        device = torch.device(device)
        if device.type == "cuda" and device.index is not None:
            # CUDA graph capture and side streams use the current device: make it the models' one (cuda:1...).
            torch.cuda.set_device(device)
        dtypes = StageDtypes.for_device(self.resolved.dtype, device)
        models = TortoiseModels.load(ModelConfigs.for_size(self.resolved.size), self._weights, device, dtypes)
        self._pipeline = TortoisePipeline(models, cuda_graph=self.resolved.cuda_graph)

    def model_key(self) -> Any:
        """The models depend on the size, each component's weights, the precision and graph capture;
        sampling options (the presets) do not, so sweep cells of one checkpoint share loaded models."""
        return {"size": self.resolved.size, "dtype": self.resolved.dtype, "cuda_graph": self.resolved.cuda_graph,
                "weights": {c: w["sha256"] for c, w in self.checkpoints().items()}}

    def share_models(self, loaded: System) -> None:
        assert isinstance(loaded, TortoiseSystem) and loaded._pipeline is not None
        self._weights = loaded._weights
        self._pipeline = loaded._pipeline

    def warmup(self) -> None:
        """On CUDA: one short item captures the AR decode graphs and warms the kernels. Pointless on CPU."""
        if self._pipeline is not None and self._pipeline.device.type == "cuda":
            try:
                self._pipeline.warmup(self.resolved)
            except ItemFailure as exc:  # every item would fail the same way: stop before the first
                raise EvalkitError(f"TorToiSe warm-up item failed, so no item was generated: {exc}") from None

    def synthesize(self, items: Sequence[Item], seeds: Sequence[int | None]) -> list[Synthesis | ItemError]:
        if self._pipeline is None:
            raise RuntimeError("TortoiseSystem.setup(device) must run before synthesize()")
        return [self._synthesize_one(item, seed) for item, seed in zip(items, seeds)]

    def _synthesize_one(self, item: Item, seed: int | None) -> Synthesis | ItemError:
        if item.prompt_audio is None:
            return ItemError("MissingPrompt", f"item {item.id!r} has no speaker prompt: TorToiSe needs a voice "
                             "to clone (give the suite prompts, or --voice FILE)", "generate")
        start = time.perf_counter()
        try:
            clips = [load_voice_clip(path) for path in item.voice_clips]  # the prompt, then any extra clips
        except AudioError as exc:
            return ItemError("BadPrompt", f"item {item.id!r}: speaker prompt: {exc}", "load")
        loading = time.perf_counter() - start
        try:
            speech = self._pipeline.synthesize(item.text, clips, self.resolved, seed)
        except ItemFailure as exc:
            return ItemError("ItemFailure", f"item {item.id!r}: {exc}", "generate")
        stages = {**speech.stages, "conditioning": speech.stages["conditioning"] + loading}
        extras = {**speech.extras, "nondeterministic": seed is None}
        if self.resolved.random_weights:
            extras["warning"] = RANDOM_WEIGHTS_WARNING
        return Synthesis(audio=speech.audio.numpy(), sample_rate=speech.sample_rate,
                         seconds=time.perf_counter() - start, stages=stages, extras=extras)

    def teardown(self) -> None:
        if self._pipeline is not None:
            device = self._pipeline.device
            self._pipeline = None
            if device.type == "cuda":
                import torch

                torch.cuda.empty_cache()
