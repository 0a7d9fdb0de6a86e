"""Lazy registries: names map to "module:attr" strings, imported only when used.

This is what keeps `evalkit --help` and `evalkit systems list` free of torch: listing
needs only the names and one-line descriptions written here.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    found: Any = module
    for part in attr.split("."):  # a nested class is recorded by its qualified name
        try:
            found = getattr(found, part)
        except AttributeError:
            raise EvalkitError(f"module {module_name!r} has no attribute {attr!r}") from None
    return found


def target_of(cls: type) -> str:
    """The "package.module:Name" that `import_target` turns back into `cls`."""
    return f"{cls.__module__}:{cls.__qualname__}"


@dataclass(frozen=True)
class ComponentSpec:
    """How to rebuild a system or metric in another process or on another machine: the
    import path of its class and its options (a run records both, plugins included)."""

    target: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, component: Any) -> "ComponentSpec":
        return cls(target_of(type(component)), dict(component.options))

    def build(self) -> Any:
        return import_target(self.target)(**dict(self.options))


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

    def recorded(self, name: str, target: str | None) -> type[T]:
        """The class a run recorded: its import path when run.json has one (plugins
        included), else the registry's class of that name (runs made before targets
        were recorded)."""
        return import_target(target) if target else self.get(name)


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
    },
)
