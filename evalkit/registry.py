"""Lazy registries: names map to "module:attr" strings, imported only when used.

This is what keeps `evalkit --help` and `evalkit systems list` free of torch: listing
needs only the names and one-line descriptions written here.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from evalkit.types import EvalkitError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    target: str  # "package.module:Attr"
    description: str


def import_target(target: str) -> Any:
    """Import "package.module:Attr" and return Attr, with a clear error if it fails."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise EvalkitError(f"{target!r} is not of the form 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EvalkitError(f"cannot import {module_name!r} for {target!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise EvalkitError(f"module {module_name!r} has no attribute {attr!r}") from None


class Registry(Generic[T]):
    """Name -> lazily imported class. Names containing ':' are treated as plugins."""

    def __init__(self, kind: str, entries: dict[str, Entry]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def describe(self) -> dict[str, str]:
        return {name: e.description for name, e in self._entries.items()}

    def get(self, name: str) -> type[T]:
        if ":" in name:  # plugin: package.module:ClassName
            return import_target(name)
        try:
            entry = self._entries[name]
        except KeyError:
            known = ", ".join(self._entries) or "none"
            raise EvalkitError(
                f"unknown {self.kind} {name!r} (known: {known}; a plugin is given as package.module:ClassName)"
            ) from None
        return import_target(entry.target)


SYSTEMS: Registry = Registry(
    "system",
    {
        "espeak": Entry("evalkit.systems.espeak:EspeakSystem", "espeak-ng formant synthesis (floor baseline; cannot clone a voice)"),
        "ground-truth": Entry("evalkit.systems.ground_truth:GroundTruthSystem", "each item's ground-truth recording (topline)"),
        "audio-dir": Entry("evalkit.systems.audio_dir:AudioDirSystem", "audio made elsewhere: a folder of <item id>.wav|.flac"),
        "tortoise": Entry("evalkit.tortoise.system:TortoiseSystem", "TorToiSe five-model pipeline (AR + CLVP + CVVP + diffusion + UnivNet)"),
    },
)

METRICS: Registry = Registry(
    "metric",
    {
        "wer": Entry("evalkit.metrics.wer:WerMetric", "intelligibility: Whisper ASR -> WER/CER (corpus and per-utterance)"),
        "sim": Entry("evalkit.metrics.speaker:SpeakerSimilarity", "speaker similarity: ECAPA-TDNN cosine to the prompt (and ground truth)"),
        "rtf": Entry("evalkit.metrics.timing:RealTimeFactor", "real-time factor: synthesis seconds / audio seconds"),
        "duration": Entry("evalkit.metrics.timing:DurationSanity", "duration vs. expected, silence ratio, clipping"),
        "clvp": Entry("evalkit.tortoise.clvp_metric:ClvpAgreement", "TorToiSe CLVP text-speech agreement"),
        "stops": Entry("evalkit.metrics.stops:DecodingStops", "AR decoding ends: length-limit cuts, speech lost to silence cuts"),
        "utmos": Entry("evalkit.metrics.utmos:Utmos", "quality: UTMOS22 strong MOS prediction (wav2vec 2.0 + BLSTM), MOS 1-5"),
        "dnsmos": Entry("evalkit.metrics.dnsmos:Dnsmos", "quality: DNSMOS P.835 SIG/BAK/OVRL and P.808 (Microsoft, ONNX), MOS 1-5"),
    },
)
