"""Generation: items -> validated, encoded audio, and that audio into the run.

Two halves, so that both executors share them:
- `SynthesisUnit` runs where the models are (in-process, or inside a Ray worker):
  synthesize, validate, encode to FLAC. It returns `Synthesized` records (bytes, not
  arrays: small, and what the run stores).
- The driver owns the generation cache and the run directory: `GenerationCache` serves
  and records generations, `store_generated` writes the audio into the run and builds
  the metrics' input from the *stored* audio.

The cache key is the system's config and checkpoint hashes, the item fields a system
reads (text, prompt audio content, prompt text, language) and the item's seed.
Unseeded or non-deterministic sampling is never served from, or written to, the cache.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from evalkit.audio import AudioError, check_audio, decode_audio, encode_flac, mix_down
from evalkit.cache import BlobCache, JsonCache, content_key
from evalkit.devices import device_kind
from evalkit.hashing import sha256_bytes
from evalkit.metrics.base import ScoreInput
from evalkit.progress import Progress
from evalkit.provenance import hardware
from evalkit.runner.plan import WorkItem
from evalkit.schema import AudioFile, Timing
from evalkit.store import RunStore
from evalkit.systems.base import System
from evalkit.types import Item, ItemError, Synthesis


@dataclass(frozen=True)
class Synthesized:
    """One item's generation as it leaves the unit that made it (or the cache)."""

    item_id: str
    flac: bytes | None = None
    sha256: str | None = None
    timing: Timing | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    error: ItemError | None = None
    hardware: str | None = None  # where it was synthesized (kept with cached generations)


@dataclass
class Generated:
    """An item on its way through the run: generated (or failed), not yet scored."""

    item: Item
    seed: int | None
    error: ItemError | None = None
    score_input: ScoreInput | None = None
    audio: AudioFile | None = None
    timing: Timing | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def machine_label() -> str:
    """The hardware a timing was measured on (kept with cached generations)."""
    return hardware().get("gpu") or hardware().get("cpu")


def same_system(a: System, b: System) -> bool:
    """Equal configuration and weights (a config may name a checkpoint override without its hash)."""
    def weights(s: System) -> dict:
        return {k: v.get("sha256") for k, v in s.checkpoints().items()}

    return type(a) is type(b) and a.config() == b.config() and weights(a) == weights(b)


class SynthesisUnit:
    """Loaded models and the synthesize -> validate -> encode step.

    Holds one set of models at a time. A system whose config equals the loaded one's is
    served by the loaded instance; one with the same `model_key` (a sweep cell that
    differs in preset only) takes over its models; anything else loads its own.
    """

    def __init__(self, device: str, progress: Progress | None = None) -> None:
        self.device = device
        self.progress = progress or Progress(None, quiet=True)
        self._loaded: System | None = None

    def ready(self, system: System) -> System:
        """`system` with models loaded (model loading and warm-up are logged as phases)."""
        loaded = self._loaded
        if loaded is not None:
            if loaded is system or same_system(loaded, system):
                return loaded
            key = system.model_key()
            if key is not None and key == loaded.model_key():
                system.share_models(loaded)  # warmed up again below: other options may size buffers differently
            else:
                self.teardown()
                loaded = None
        if loaded is None:
            with self.progress.phase(f"{system.name}: loading on {self.device}"):
                system.setup(self.device)
        self._loaded = system
        with self.progress.phase(f"{system.name}: warm-up"):
            system.warmup()
        return system

    def run(self, system: System, items: Sequence[Item], seeds: Sequence[int | None]) -> list[Synthesized]:
        system = self.ready(system)
        results = self._synthesize(system, items, seeds)
        return [self._encode(system, item, result, wall, len(items)) for item, (result, wall) in zip(items, results)]

    def _synthesize(self, system: System, items, seeds) -> list[tuple[Synthesis | ItemError, float]]:
        """One call for the batch; if it raises, one call per item, so a bad item
        fails alone. Returns (result, wall seconds of the call) per item."""
        try:
            start = time.perf_counter()
            results = system.synthesize(list(items), list(seeds))
            wall = time.perf_counter() - start
            if len(results) != len(items):
                raise RuntimeError(f"system returned {len(results)} results for {len(items)} items")
            return [(r, wall) for r in results]
        except Exception as batch_exc:
            if len(items) == 1:
                return [(ItemError.from_exception(batch_exc, "generate"), 0.0)]
            return [pair for item, seed in zip(items, seeds) for pair in self._synthesize(system, [item], [seed])]

    def _encode(self, system: System, item: Item, result, wall: float, batch_size: int) -> Synthesized:
        if isinstance(result, ItemError):
            return Synthesized(item.id, error=result)
        timing = None
        if system.generates:
            seconds = result.seconds if result.seconds is not None else wall / batch_size
            latency = result.extras.get("latency_seconds", wall)
            timing = Timing(seconds, latency, batch_size, dict(result.stages), from_cache=False)
        try:
            # Channels are stored as generated: protocols differ in which they hear.
            audio = check_audio(result.audio, result.sample_rate, f"item {item.id!r}: generated audio",
                                keep_channels=True)
            flac = encode_flac(audio, result.sample_rate)
        except AudioError as exc:
            return Synthesized(item.id, timing=timing, error=ItemError.from_exception(exc, "validate"))
        return Synthesized(item.id, flac, sha256_bytes(flac), timing, dict(result.extras), hardware=machine_label())

    def teardown(self) -> None:
        if self._loaded is not None:
            self._loaded.teardown()
            self._loaded = None


class GenerationCache:
    """The driver's generation cache: content-keyed entries plus FLAC blobs."""

    def __init__(self, system: System, checkpoints, suite, device: str) -> None:
        self.suite = suite
        self.enabled = system.generates and system.deterministic
        # The device kind is part of the key: CPU and CUDA runs of one config differ numerically
        # (and systems pick precision by device, e.g. TorToiSe's dtype=auto).
        self.config_key = content_key(system.config(), {k: v.get("sha256") for k, v in checkpoints.items()},
                                      device_kind(device))
        self.entries = JsonCache("generation")
        self.blobs = BlobCache("audio")

    def key(self, work: WorkItem) -> str | None:
        if not self.enabled or work.seed is None:
            return None
        item = work.item
        voice: Any = self.suite.sha_of(item.prompt_audio)
        if item.extra_prompt_audio:  # several clips: all their hashes (one clip keeps the key it always had)
            voice = [self.suite.sha_of(p) for p in item.voice_clips]
        return content_key("generation", self.config_key, item.text, item.prompt_text, item.language, voice,
                           work.seed)

    def get(self, work: WorkItem) -> Synthesized | None:
        key = self.key(work)
        entry = self.entries.get(key) if key else None
        blob = self.blobs.path(entry["audio_sha256"], ".flac") if entry else None
        if not entry or not blob.exists():
            return None
        timing = replace(Timing.from_json(entry["timing"]), from_cache=True) if entry.get("timing") else None
        extras = {**entry.get("extras", {}), "cache_hardware": entry.get("hardware")}
        return Synthesized(work.item.id, blob.read_bytes(), entry["audio_sha256"], timing, extras)

    def put(self, work: WorkItem, result: Synthesized) -> None:
        key = self.key(work)
        if key is None or result.flac is None or result.error is not None:
            return
        self.blobs.put(result.sha256, ".flac", result.flac)
        timing = result.timing.to_json() if result.timing else None
        self.entries.put(key, {"audio_sha256": result.sha256, "timing": timing, "extras": dict(result.extras),
                               "hardware": result.hardware})


def store_generated(store: RunStore, suite, system_name: str, work: WorkItem, result: Synthesized) -> Generated:
    """Write the audio into the run and build the metrics' input from the *stored* audio,
    so that re-scoring the files later reproduces the scores exactly."""
    gen = Generated(work.item, work.seed, error=result.error, timing=result.timing)
    if result.error is not None:
        return gen
    try:
        path = store.put_audio(result.sha256, result.flac)
        channels, rate = decode_audio(result.flac, f"item {work.item.id!r}", keep_channels=True)
        audio = mix_down(channels)
    except (OSError, AudioError) as exc:
        gen.error = ItemError.from_exception(exc, "store")
        return gen
    gen.extras = dict(result.extras)
    gen.audio = AudioFile(path, result.sha256, len(audio) / rate, rate)
    timing = gen.timing
    synthesis = Synthesis(
        audio=audio, sample_rate=rate, seconds=timing and timing.seconds, stages=timing.stages if timing else {},
        extras={**gen.extras, "latency_seconds": timing and timing.latency_seconds,
                "from_cache": bool(timing and timing.from_cache)},
    )
    gen.score_input = ScoreInput(
        item=work.item, audio=audio, sample_rate=rate, audio_sha256=result.sha256, synthesis=synthesis,
        channels=channels if channels.ndim == 2 else None, system=system_name,
        prompt_sha256=suite.sha_of(work.item.prompt_audio), reference_sha256=suite.sha_of(work.item.reference_audio),
    )
    return gen
