"""Generation step: items -> validated, stored audio, via the generation cache.

The cache key is the system's config and checkpoint hashes, the item fields a
system reads (text, prompt audio content, prompt text, language) and the item's seed.
Unseeded or non-deterministic sampling is never served from, or written to, the cache.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from evalkit.api import device_kind
from evalkit.audio import AudioError, check_audio, decode_audio, encode_flac, mix_down
from evalkit.cache import BlobCache, JsonCache, content_key
from evalkit.hashing import sha256_bytes
from evalkit.metrics.base import ScoreInput
from evalkit.progress import Progress
from evalkit.provenance import hardware
from evalkit.store import RunStore
from evalkit.systems.base import System
from evalkit.types import Item, ItemError, Synthesis


@dataclass
class Generated:
    """An item on its way through the run: generated (or failed), not yet scored."""

    item: Item
    seed: int | None
    error: ItemError | None = None
    score_input: ScoreInput | None = None
    audio: dict[str, Any] | None = None
    timing: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Generator:
    def __init__(self, system: System, checkpoints: dict, store: RunStore, suite, device: str,
                 progress: Progress | None = None) -> None:
        self.system = system
        self.progress = progress or Progress(None, quiet=True)
        self.store = store
        self.suite = suite
        self.device = device
        self.use_cache = system.generates and system.deterministic
        # The device kind is part of the key: CPU and CUDA runs of one config differ numerically
        # (and systems pick precision by device, e.g. TorToiSe's dtype=auto).
        self.config_key = content_key(system.config(), {k: v.get("sha256") for k, v in checkpoints.items()},
                                      device_kind(device))
        self.entries = JsonCache("generation")
        self.blobs = BlobCache("audio")
        self._ready = False

    def _cache_key(self, item: Item, seed: int | None) -> str | None:
        if not self.use_cache or seed is None:
            return None
        voice: Any = self.suite.sha_of(item.prompt_audio)
        if item.extra_prompt_audio:  # several clips: all their hashes (one clip keeps the key it always had)
            voice = [self.suite.sha_of(p) for p in item.voice_clips]
        return content_key("generation", self.config_key, item.text, item.prompt_text, item.language, voice, seed)

    def _ensure_ready(self) -> None:
        if not self._ready:  # load models only when something must be generated
            with self.progress.phase(f"{self.system.name}: loading on {self.device}"):
                self.system.setup(self.device)
            with self.progress.phase(f"{self.system.name}: warm-up"):
                self.system.warmup()
            self._ready = True

    def run(self, items: Sequence[Item], seeds: Sequence[int | None]) -> list[Generated]:
        out: list[Generated | None] = [None] * len(items)
        misses = []
        for i, (item, seed) in enumerate(zip(items, seeds)):
            key = self._cache_key(item, seed)
            hit = self.entries.get(key) if key else None
            blob = self.blobs.path(hit["audio_sha256"], ".flac") if hit else None
            if hit and blob.exists():
                out[i] = self._from_cache(item, seed, hit, blob.read_bytes())
            else:
                misses.append(i)
        if misses:
            self._ensure_ready()
            results = self._synthesize([items[i] for i in misses], [seeds[i] for i in misses])
            for i, (result, wall) in zip(misses, results):
                out[i] = self._finish(items[i], seeds[i], result, wall, len(misses))
        return out  # type: ignore[return-value]

    def _synthesize(self, items, seeds) -> list[tuple[Synthesis | ItemError, float]]:
        """One call for the batch; if it raises, one call per item, so a bad item
        fails alone. Returns (result, wall seconds of the call) per item."""
        try:
            start = time.perf_counter()
            results = self.system.synthesize(items, seeds)
            wall = time.perf_counter() - start
            if len(results) != len(items):
                raise RuntimeError(f"system returned {len(results)} results for {len(items)} items")
            return [(r, wall) for r in results]
        except Exception as batch_exc:
            if len(items) == 1:
                return [(ItemError.from_exception(batch_exc, "generate"), 0.0)]
            return [pair for item, seed in zip(items, seeds) for pair in self._synthesize([item], [seed])]

    def _finish(self, item: Item, seed, result, wall: float, batch_size: int) -> Generated:
        gen = Generated(item, seed)
        if isinstance(result, ItemError):
            gen.error = result
            return gen
        if self.system.generates:
            seconds = result.seconds if result.seconds is not None else wall / batch_size
            latency = result.extras.get("latency_seconds", wall)
            gen.timing = {"seconds": seconds, "latency_seconds": latency, "batch_size": batch_size,
                          "stages": dict(result.stages), "from_cache": False}
        try:
            # Channels are stored as generated: protocols differ in which they hear.
            audio = check_audio(result.audio, result.sample_rate, f"item {item.id!r}: generated audio",
                                keep_channels=True)
            flac = encode_flac(audio, result.sample_rate)
        except AudioError as exc:
            gen.error = ItemError.from_exception(exc, "validate")
            return gen
        sha = sha256_bytes(flac)
        key = self._cache_key(item, seed)
        if key:
            self.blobs.put(sha, ".flac", flac)
            self.entries.put(key, {"audio_sha256": sha, "timing": gen.timing, "extras": dict(result.extras),
                                   "hardware": hardware().get("gpu") or hardware().get("cpu")})
        return self._stored(gen, flac, sha, dict(result.extras))

    def _from_cache(self, item: Item, seed, entry: dict, flac: bytes) -> Generated:
        gen = Generated(item, seed)
        gen.timing = {**entry["timing"], "from_cache": True} if entry.get("timing") else None
        extras = {**entry.get("extras", {}), "cache_hardware": entry.get("hardware")}
        return self._stored(gen, flac, entry["audio_sha256"], extras)

    def _stored(self, gen: Generated, flac: bytes, sha: str, extras: dict) -> Generated:
        """Write audio to the run and build the metrics' input from the *stored* audio,
        so that re-scoring the files later reproduces the scores exactly."""
        try:
            path = self.store.put_audio(sha, flac)
            channels, rate = decode_audio(flac, f"item {gen.item.id!r}", keep_channels=True)
            audio = mix_down(channels)
        except (OSError, AudioError) as exc:
            gen.error = ItemError.from_exception(exc, "store")
            return gen
        gen.extras = extras
        gen.audio = {"path": path, "sha256": sha, "seconds": len(audio) / rate, "sample_rate": rate}
        timing = gen.timing or {}
        synthesis = Synthesis(
            audio=audio, sample_rate=rate, seconds=timing.get("seconds"), stages=timing.get("stages", {}),
            extras={**extras, "latency_seconds": timing.get("latency_seconds"),
                    "from_cache": timing.get("from_cache", False)},
        )
        gen.score_input = ScoreInput(
            item=gen.item, audio=audio, sample_rate=rate, audio_sha256=sha, synthesis=synthesis,
            channels=channels if channels.ndim == 2 else None,
            system=self.system.name, prompt_sha256=self.suite.sha_of(gen.item.prompt_audio),
            reference_sha256=self.suite.sha_of(gen.item.reference_audio),
        )
        return gen
