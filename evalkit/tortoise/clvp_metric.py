"""`clvp`: TorToiSe's CLVP text/speech agreement, per item and aggregated.

Two sources, reported as two summaries so that they are never compared with each other:

* `clvp` - audio made by the `tortoise` system: the score with which CLVP chose the output among the
  candidates, read from the synthesis extras (`chosen_clvp_score`). It is tortoise's own number: cosine of
  the text and speech latents times exp(CLVP temperature), computed on the candidate's codes padded with the
  stop token to `max_mel_tokens` and fixed (`clvp.prepare_codes`). CLVP averages over all code positions,
  padding included, so scores are comparable only between runs with the same `max_mel_tokens`; every value
  records it, and a summary over mixed values says so. With random weights (tests) the score is
  meaningless, and the summary counts such items.
* `clvp_dvae` - EXPERIMENTAL, audio from any other system (or the ground truth): the audio is resampled to
  22.05 kHz, turned into speech codes by TorToiSe's discrete VAE (`dvae.py`, a re-implementation whose
  checkpoint layout comes from public training code and could not be checked against dvae.pth here), padded
  and fixed like a candidate of `max_mel_tokens` codes, and scored with CLVP. These codes come from a
  different process than the AR model's, so `clvp_dvae` is not comparable with `clvp`.

The experimental path (`dvae` option): "auto" (default) uses it when dvae.pth and clvp2.pth are in the
weights cache and otherwise marks such items not applicable, naming the fetch command (a missing optional
download is not a failure of the audio, and must not make the run incomplete); true requires it (missing
weights are then metric errors); false never uses it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

from evalkit.cache import content_key
from evalkit.metrics.base import Metric, ScoreInput, Summary, summary_of_terms
from evalkit.types import EvalkitError, Item, ItemError

EXPERIMENTAL = "EXPERIMENTAL: DVAE codes of the audio scored by CLVP (dvae.py layout from public sources)"
COMPARABILITY = "comparable only between runs with the same max_mel_tokens (CLVP averages over the padding)"


@dataclass(frozen=True)
class ClvpOptions:
    # The EXPERIMENTAL DVAE path for audio without TorToiSe's codes: "auto" = where weights are found.
    dvae: Literal["auto", True, False] = "auto"
    max_mel_tokens: int = 500
    size: Literal["official", "tiny"] = "official"
    checkpoints: Mapping[str, str] = field(default_factory=dict)  # clvp / dvae -> .pth path override
    random_weights: bool = False
    init_seed: int = 0

    def __post_init__(self) -> None:
        if self.max_mel_tokens < 1:
            raise ValueError(f"option max_mel_tokens={self.max_mel_tokens!r}: expected an integer >= 1")
        if not set(self.checkpoints) <= {"clvp", "dvae"}:
            raise ValueError(f"option checkpoints: components are clvp and dvae, got {sorted(self.checkpoints)}")


class ClvpAgreement(Metric):
    name = "clvp"
    version = "1"
    description = "TorToiSe CLVP text-speech agreement (pipeline score; EXPERIMENTAL DVAE path for other audio)"
    higher_is_better = True
    requires = frozenset({"text"})
    batch_size = 16

    Options = ClvpOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.device = "cpu"
        self._weights: dict | None = None
        self._models = None

    # -- the experimental path's weights ------------------------------------------------------------

    def _dvae_weights(self) -> dict | None:
        """{"clvp": ComponentWeights, "dvae": ...} for the DVAE path, or None where it is off or unavailable."""
        if self._weights is None:
            self._weights = {} if self.options["dvae"] is False else self._find_weights()
        return self._weights or None

    def _find_weights(self) -> dict:
        from evalkit.tortoise.models import ModelConfigs, cached_weights, component_weights

        o, configs, found = self.options, ModelConfigs.for_size(self.options["size"]), {}
        for component in ("clvp", "dvae"):
            checkpoint = o["checkpoints"].get(component)
            if o["dvae"] == "auto" and checkpoint is None and not o["random_weights"]:
                found[component] = cached_weights(component)  # never downloads
                if found[component] is None:
                    return {}
            else:
                found[component] = component_weights(component, configs, checkpoint=checkpoint,
                                                      random=o["random_weights"], init_seed=o["init_seed"])
        return found

    def provenance(self) -> dict[str, Any]:
        weights = self._dvae_weights()
        path = {c: w.to_json() for c, w in weights.items()} if weights else None
        return {**super().provenance(), "dvae_path": path, "experimental": EXPERIMENTAL if path else None}

    # -- applicability and caching -----------------------------------------------------------------

    @staticmethod
    def from_pipeline(inp: ScoreInput) -> bool:
        return "chosen_clvp_score" in inp.synthesis.extras

    def not_applicable(self, inp: ScoreInput) -> str | None:
        reason = super().not_applicable(inp)
        if reason or self.from_pipeline(inp):
            return reason
        if self.options["dvae"] is False:
            return "not TorToiSe pipeline output, and the EXPERIMENTAL DVAE path is off (clvp.dvae=false)"
        if self._dvae_weights() is None:
            return ("not TorToiSe pipeline output, and the EXPERIMENTAL DVAE path needs dvae.pth and clvp2.pth: "
                    "`evalkit weights fetch tortoise/dvae` and `evalkit weights fetch tortoise/clvp`")
        return None

    def cache_key(self, inp: ScoreInput) -> str:
        # The same audio scores differently by source: its pipeline score, or the DVAE path's.
        return content_key(super().cache_key(inp), "pipeline" if self.from_pipeline(inp) else "dvae")

    # -- scoring -------------------------------------------------------------------------------------

    def setup(self, device: str) -> None:
        self.device = device

    def teardown(self) -> None:
        self._models = None

    def score(self, batch: Sequence[ScoreInput]) -> list[dict[str, Any] | ItemError]:
        return [self._pipeline_value(inp) if self.from_pipeline(inp) else self._dvae_value(inp) for inp in batch]

    @staticmethod
    def _pipeline_value(inp: ScoreInput) -> dict[str, Any]:
        extras = inp.synthesis.extras
        return {"clvp": float(extras["chosen_clvp_score"]), "source": "pipeline",
                "max_mel_tokens": extras.get("max_mel_tokens"), "num_candidates": extras.get("num_candidates"),
                "random_weights": bool(extras.get("random_weights", False))}

    def _dvae_value(self, inp: ScoreInput) -> dict[str, Any]:
        import torch

        from evalkit.tortoise.clvp import prepare_codes
        from evalkit.tortoise.text import model_text_tokens

        if self._dvae_weights() is None:
            raise EvalkitError("the EXPERIMENTAL DVAE path is unavailable (see `evalkit weights list`)")
        clvp, dvae = self._load()
        limit = self.options["max_mel_tokens"]
        with torch.inference_mode():
            wav = _speech_at_22k(inp.audio, inp.sample_rate).to(self.device)
            codes = dvae.codes_from_audio(wav)
            fixed = prepare_codes(codes[:, :limit], limit)
            text = torch.tensor([model_text_tokens(inp.item.text)], device=self.device)
            score = float(clvp(text, fixed)[0])
        return {"clvp": score, "source": "dvae", "experimental": True, "max_mel_tokens": limit,
                "codes": int(codes.shape[1]), "truncated": codes.shape[1] > limit,
                "random_weights": self.options["random_weights"]}

    def _load(self):
        if self._models is None:
            from evalkit.tortoise.models import ModelConfigs, build_module

            configs = ModelConfigs.for_size(self.options["size"])
            self._models = tuple(build_module(c, configs, w).to(self.device)
                                 for c, w in self._dvae_weights().items())
        return self._models

    # -- aggregation ---------------------------------------------------------------------------------

    def paired_terms(self, values, failed):
        terms: dict[str, dict[str, tuple[float, float]]] = {}
        for item_id, v in values.items():
            if math.isfinite(v["clvp"]):
                terms.setdefault(_summary_name(v), {})[item_id] = (float(v["clvp"]), 1.0)
        return terms

    def aggregate(self, values: Sequence[Mapping[str, Any]], failed: Sequence[Item]) -> dict[str, Summary]:
        terms = self.paired_terms(dict(enumerate(values)), {})
        groups = {name: [v for v in values if _summary_name(v) == name] for name in ("clvp", "clvp_dvae")}
        names = [name for name, group in groups.items() if group] or ["clvp"]
        return {name: summary_of_terms(terms.get(name, {}), len(failed), True, **_summary_extra(groups[name], name))
                for name in names}


def _summary_name(value: Mapping[str, Any]) -> str:
    """Pipeline scores and DVAE-path scores are different quantities, never summarised together."""
    return "clvp" if value["source"] == "pipeline" else "clvp_dvae"


def _summary_extra(group: Sequence[Mapping[str, Any]], name: str) -> dict[str, Any]:
    lengths = sorted({v["max_mel_tokens"] for v in group if v.get("max_mel_tokens") is not None})
    extra: dict[str, Any] = {"max_mel_tokens": lengths, "note": COMPARABILITY,
                             "n_random_weights": sum(bool(v.get("random_weights")) for v in group)}
    if len(lengths) > 1:
        extra["warning"] = f"mixed max_mel_tokens {lengths}: the scores are not comparable"
    if name == "clvp_dvae":
        extra.update(experimental=True, provenance=EXPERIMENTAL)
    return extra


def _speech_at_22k(audio, sample_rate: int):
    """Generated audio (numpy, any rate) as a float tensor at the DVAE's 22.05 kHz, as tortoise resamples."""
    import numpy as np
    import torch
    import torchaudio.functional as AF

    from evalkit.tortoise.audio import AR_SAMPLE_RATE

    wav = torch.from_numpy(np.asarray(audio, dtype=np.float32))
    if sample_rate != AR_SAMPLE_RATE:
        wav = AF.resample(wav, sample_rate, AR_SAMPLE_RATE)
    return wav.clamp(-1, 1)
