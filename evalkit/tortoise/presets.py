"""Every option of the `tortoise` system, and tortoise-tts 3.0.0's four presets.

The generation options keep the names of tortoise's `TextToSpeech.tts()` keyword arguments, and a preset
sets exactly what `tts_with_preset()` sets, on top of the same shared settings:

    shared        temperature 0.8, top_p 0.8, repetition_penalty 2.0, cond_free_k 2.0,
                  diffusion_temperature 1.0 (length_penalty 1.0: no effect, see below)
    ultra_fast    num_autoregressive_samples 16,  diffusion_iterations 30, cond_free False
    fast          num_autoregressive_samples 96,  diffusion_iterations 80   (the default preset)
    standard      num_autoregressive_samples 256, diffusion_iterations 200
    high_quality  num_autoregressive_samples 256, diffusion_iterations 400

plus `tts()`'s own defaults: max_mel_tokens 500, cvvp_amount 0, cond_free True, top_k 50 (Hugging Face's
default, silently active in tortoise). Any option given explicitly overrides the preset.

Left out on purpose: `k` (evalkit scores one utterance per item, tortoise's k=1: the top CLVP candidate;
the ranking of all candidates is in the synthesis extras), `length_penalty` (Hugging Face applies it only
when scoring beams; sampling never does, see `decoding.py`), `use_deterministic_seed` (evalkit seeds every
item), `enable_redaction` (needs a wav2vec2 aligner; text in [brackets] is spoken, not redacted).

No torch here: options are validated when a system is constructed, before any model loads.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from evalkit.types import EvalkitError

SHARED_SETTINGS = {
    "temperature": 0.8, "repetition_penalty": 2.0, "top_p": 0.8, "cond_free_k": 2.0, "diffusion_temperature": 1.0,
}
PRESETS: dict[str, dict[str, Any]] = {
    "ultra_fast": {"num_autoregressive_samples": 16, "diffusion_iterations": 30, "cond_free": False},
    "fast": {"num_autoregressive_samples": 96, "diffusion_iterations": 80},
    "standard": {"num_autoregressive_samples": 256, "diffusion_iterations": 200},
    "high_quality": {"num_autoregressive_samples": 256, "diffusion_iterations": 400},
}
DEFAULT_PRESET = "fast"

COMPONENTS = ("autoregressive", "clvp", "cvvp", "diffusion", "vocoder")
DTYPES = ("auto", "float32", "bfloat16", "float16")
SIZES = ("official", "tiny")
TRAINED_DIFFUSION_STEPS = 4000  # the most diffusion_iterations the respacing allows
# tortoise's tts() asserts fewer than 400 text tokens (the trailing [STOP] included).
MAX_TEXT_TOKENS = 399


@dataclass(frozen=True)
class TortoiseOptions:
    """A complete, validated configuration of the `tortoise` system (build with `resolve`)."""

    preset: str = DEFAULT_PRESET
    # Autoregressive sampling (tortoise `tts()` names).
    num_autoregressive_samples: int = 96
    temperature: float = 0.8
    top_p: float = 0.8
    top_k: int = 50
    repetition_penalty: float = 2.0
    max_mel_tokens: int = 500
    # Candidate ranking: 0 = CLVP only (CVVP is then not even loaded), 1 = CVVP only.
    cvvp_amount: float = 0.0
    # Diffusion decoder.
    diffusion_iterations: int = 80
    cond_free: bool = True
    cond_free_k: float = 2.0
    diffusion_temperature: float = 1.0
    # Execution: "auto" = float32 on CPU; on CUDA bfloat16 for the AR model and the diffusion decoder
    # (CLVP, CVVP and the vocoder always run in float32). See docs/tortoise.md for why per stage.
    dtype: str = "auto"
    cuda_graph: bool = True  # CUDA graphs for AR decode steps and the diffusion forward (CUDA only)
    max_batch: int | None = None  # AR candidates per forward; None = all candidates of an item at once
    # Models.
    size: str = "official"  # "tiny": small random-weight configs of the same classes (tests, CPU)
    checkpoints: Mapping[str, str] = field(default_factory=dict)  # component -> .pth path override
    random_weights: bool = False  # seeded random init for components without a checkpoint override
    init_seed: int = 0  # seed of that init

    def __post_init__(self):
        _validate(self)

    @property
    def components(self) -> tuple[str, ...]:
        """The models this configuration loads: CVVP only when it takes part in ranking."""
        return tuple(c for c in COMPONENTS if c != "cvvp" or self.cvvp_amount > 0)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["checkpoints"] = dict(sorted(self.checkpoints.items()))
        return out


def option_defaults() -> dict[str, Any]:
    """What `TortoiseSystem.default_options()` shows: None = "from the preset"."""
    defaults = TortoiseOptions().to_json()
    for name in (*PRESETS[DEFAULT_PRESET], "cond_free"):
        defaults[name] = None
    return defaults


def resolve(options: Mapping[str, Any]) -> TortoiseOptions:
    """Preset values, then every option given (None means "not given"), validated."""
    known = {f.name for f in dataclasses.fields(TortoiseOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise EvalkitError(f"tortoise has no option(s) {unknown}; known: {sorted(known)}")
    preset = options.get("preset") or DEFAULT_PRESET
    if preset not in PRESETS:
        raise EvalkitError(f"unknown tortoise preset {preset!r} (known: {', '.join(PRESETS)})")
    given = {k: v for k, v in options.items() if v is not None}
    return TortoiseOptions(**{**SHARED_SETTINGS, "cond_free": True, **PRESETS[preset], **given, "preset": preset})


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate(o: TortoiseOptions) -> None:
    checks = {
        "num_autoregressive_samples": (_is_int(o.num_autoregressive_samples) and o.num_autoregressive_samples >= 1,
                                       "an integer >= 1"),
        "temperature": (_is_number(o.temperature) and o.temperature > 0, "a number > 0"),
        "top_p": (_is_number(o.top_p) and 0 < o.top_p <= 1, "a number in (0, 1]"),
        "top_k": (_is_int(o.top_k) and o.top_k >= 0, "an integer >= 0 (0 disables it)"),
        "repetition_penalty": (_is_number(o.repetition_penalty) and o.repetition_penalty > 0, "a number > 0"),
        "max_mel_tokens": (_is_int(o.max_mel_tokens) and o.max_mel_tokens >= 1, "an integer >= 1"),
        "cvvp_amount": (_is_number(o.cvvp_amount) and 0 <= o.cvvp_amount <= 1, "a number in [0, 1]"),
        "diffusion_iterations": (_is_int(o.diffusion_iterations)
                                 and 1 <= o.diffusion_iterations <= TRAINED_DIFFUSION_STEPS,
                                 f"an integer in [1, {TRAINED_DIFFUSION_STEPS}]"),
        "cond_free": (isinstance(o.cond_free, bool), "true or false"),
        "cond_free_k": (_is_number(o.cond_free_k) and o.cond_free_k >= 0, "a number >= 0"),
        "diffusion_temperature": (_is_number(o.diffusion_temperature) and o.diffusion_temperature >= 0,
                                  "a number >= 0"),
        "dtype": (o.dtype in DTYPES, f"one of {', '.join(DTYPES)}"),
        "cuda_graph": (isinstance(o.cuda_graph, bool), "true or false"),
        "max_batch": (o.max_batch is None or (_is_int(o.max_batch) and o.max_batch >= 1), "an integer >= 1 or null"),
        "size": (o.size in SIZES, f"one of {', '.join(SIZES)}"),
        "checkpoints": (isinstance(o.checkpoints, Mapping) and set(o.checkpoints) <= set(COMPONENTS)
                        and all(isinstance(p, str) and p for p in o.checkpoints.values()),
                        f"a mapping of component ({', '.join(COMPONENTS)}) to a .pth path"),
        "random_weights": (isinstance(o.random_weights, bool), "true or false"),
        "init_seed": (_is_int(o.init_seed), "an integer"),
    }
    bad = [f"{name}={getattr(o, name)!r} (expected {expected})" for name, (ok, expected) in checks.items() if not ok]
    if bad:
        raise EvalkitError("invalid tortoise option(s): " + "; ".join(bad))
