"""Lazy registries: names map to "module:attr" strings, imported only when used.

This is what keeps `evalkit --help` and `evalkit systems list` free of torch: listing
needs only the names and one-line descriptions written here.

Installed packages add entries through entry points (groups `evalkit.systems`,
`evalkit.metrics`; suites: `evalkit.suites`, see evalkit.suites.spec), declared in
their pyproject.toml:

    [project.entry-points."evalkit.metrics"]
    loudness = "mypkg.metrics:Loudness"

Discovery reads the installed distributions' metadata only: a plugin's module is
imported when its entry is used, never to list it. A plugin cannot replace a built-in
name (a benchmark's meaning must not change because a package was installed), and a
name that two distributions register is refused until one is uninstalled.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

from evalkit.types import EvalkitError

T = TypeVar("T")
BUILTIN = "built-in"


@dataclass(frozen=True)
class Entry:
    target: str  # "package.module:Attr"
    description: str
    origin: str = BUILTIN  # "built-in", or the distribution that registered it: "mypkg 1.2.0"


@dataclass(frozen=True)
class Plugins:
    """What one entry-point group offers: usable entries, and names that cannot be used
    (clashing with a built-in or between distributions, or malformed) with the reason."""

    entries: dict[str, Entry]
    refused: dict[str, str]


def distribution_label(dist: metadata.Distribution | None) -> str:
    if dist is None:
        return "unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def discover(group: str, reserved: frozenset[str] = frozenset()) -> Plugins:
    """The entry points of `group` as registry entries, from metadata alone (nothing is
    imported). Names in `reserved` (the built-ins) are refused."""
    found: dict[str, list[tuple[metadata.EntryPoint, str]]] = {}
    for ep in metadata.entry_points(group=group):
        found.setdefault(ep.name, []).append((ep, distribution_label(ep.dist)))
    entries: dict[str, Entry] = {}
    refused: dict[str, str] = {}
    for name, offers in sorted(found.items()):
        origins = sorted({origin for _, origin in offers})
        ep, origin = offers[0]
        if name in reserved:
            refused[name] = f"{origin} registers {name!r}, a built-in name: ignored"
        elif len(origins) > 1:
            refused[name] = f"{name!r} is registered by {' and '.join(origins)}: uninstall one of them"
        elif not ep.attr:
            refused[name] = f"{origin} registers {name!r} as {ep.value!r}: expected 'package.module:Name'"
        else:
            summary = (ep.dist.metadata["Summary"] if ep.dist else None) or ""
            entries[name] = Entry(f"{ep.module}:{ep.attr}", summary.strip() or f"from {origin}", origin)
    return Plugins(entries, refused)


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
    """Name -> lazily imported class: the built-ins, then the entry points of `group`
    (read on first need). Names containing ':' are imported as given (package.module:Class)."""

    def __init__(self, kind: str, entries: dict[str, Entry], group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._builtin = dict(entries)
        self._plugins: Plugins | None = None

    def plugins(self) -> Plugins:
        if self._plugins is None:
            self._plugins = discover(self.group, frozenset(self._builtin)) if self.group else Plugins({}, {})
        return self._plugins

    def entries(self) -> dict[str, Entry]:
        """Every usable entry: built-ins first, then plugins by name."""
        return {**self._builtin, **self.plugins().entries}

    def names(self) -> list[str]:
        return list(self.entries())

    def target(self, name: str) -> str:
        """The import path ("package.module:Class") that `name` stands for."""
        if ":" in name:
            return name
        entry = self._builtin.get(name) or self.plugins().entries.get(name)
        if entry is None:
            refused = self.plugins().refused.get(name)
            if refused:
                raise EvalkitError(f"{self.kind} {name!r} cannot be used: {refused}")
            known = ", ".join(self.entries()) or "none"
            raise EvalkitError(
                f"unknown {self.kind} {name!r} (known: {known}; a plugin is given as package.module:ClassName)"
            )
        return entry.target

    def get(self, name: str) -> type[T]:
        return import_target(self.target(name))


SYSTEMS: Registry = Registry(
    "system",
    {
        "espeak": Entry("evalkit.systems.espeak:EspeakSystem",
                        "espeak-ng formant synthesis (floor baseline; cannot clone a voice)"),
        "ground-truth": Entry("evalkit.systems.ground_truth:GroundTruthSystem",
                              "each item's ground-truth recording (topline)"),
        "audio-dir": Entry("evalkit.systems.audio_dir:AudioDirSystem",
                           "audio made elsewhere: a folder of <item id>.wav|.flac"),
        "tortoise": Entry("evalkit.tortoise.system:TortoiseSystem",
                          "TorToiSe five-model pipeline (AR + CLVP + CVVP + diffusion + UnivNet)"),
    },
    group="evalkit.systems",
)

METRICS: Registry = Registry(
    "metric",
    {
        "wer": Entry("evalkit.metrics.wer:WerMetric",
                     "intelligibility: Whisper ASR -> WER/CER (corpus and per-utterance)"),
        "sim": Entry("evalkit.metrics.speaker:SpeakerSimilarity",
                     "speaker similarity: ECAPA-TDNN cosine to the prompt (and ground truth)"),
        "rtf": Entry("evalkit.metrics.timing:RealTimeFactor", "real-time factor: synthesis seconds / audio seconds"),
        "duration": Entry("evalkit.metrics.timing:DurationSanity", "duration vs. expected, silence ratio, clipping"),
        "clvp": Entry("evalkit.tortoise.clvp_metric:ClvpAgreement", "TorToiSe CLVP text-speech agreement"),
        "stops": Entry("evalkit.metrics.stops:DecodingStops",
                       "AR decoding ends: length-limit cuts, speech lost to silence cuts"),
        "utmos": Entry("evalkit.metrics.utmos:Utmos",
                       "quality: UTMOS22 strong MOS prediction (wav2vec 2.0 + BLSTM), MOS 1-5"),
        "dnsmos": Entry("evalkit.metrics.dnsmos:Dnsmos",
                        "quality: DNSMOS P.835 SIG/BAK/OVRL and P.808 (Microsoft, ONNX), MOS 1-5"),
    },
    group="evalkit.metrics",
)
