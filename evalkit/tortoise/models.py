"""The TorToiSe models of one configuration: which weights, how they load, where and in what precision they live.

* `ModelConfigs.for_size("official" | "tiny")`: the hyperparameters of all five models. "official" is what
  tortoise's api.py builds; "tiny" shrinks widths and depths (same classes, same vocabularies, same position
  capacity, so every preset's `max_mel_tokens` is valid) for tests and CPU runs.
* `resolve_weights(options)`: component -> `ComponentWeights` (what run.json records): a `--checkpoint`
  override, the official file through the weights registry (`evalkit weights fetch tortoise/<component>`),
  or a seeded random initialisation (`random_weights`).
* `TortoiseModels.load(...)`: builds every module, loads its weights strictly (weights-only `torch.load`;
  official files unchanged), moves it to the device once, in the stage's dtype (`StageDtypes`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from evalkit.tortoise.autoregressive import AutoregressiveConfig, UnifiedVoice
from evalkit.tortoise.checkpoint import VOCODER_SUBKEY, CheckpointError, load_weights, read_state_dict
from evalkit.tortoise.clvp import CLVP, CLVPConfig
from evalkit.tortoise.cvvp import CVVP, CVVPConfig
from evalkit.tortoise.diffusion import OFFICIAL_DIFFUSION, TINY_DIFFUSION, DiffusionConfig, DiffusionTts
from evalkit.tortoise.dvae import OFFICIAL_DVAE, TINY_DVAE, DiscreteVAE, DvaeConfig, load_dvae_state_dict
from evalkit.tortoise.presets import TortoiseOptions
from evalkit.tortoise.vocoder import (
    OFFICIAL_UNIVNET,
    TINY_UNIVNET,
    UnivNetConfig,
    UnivNetGenerator,
    convert_official_state_dict,
)
from evalkit.tortoise.weights import FILES, weight_name
from evalkit.types import EvalkitError

_TINY_AR = dataclasses.replace(
    AutoregressiveConfig.tiny(),
    # The official position capacity (a few hundred small rows), so the tiny model takes any preset's input.
    max_text_tokens=AutoregressiveConfig.official().max_text_tokens,
    max_mel_tokens=AutoregressiveConfig.official().max_mel_tokens,
)


@dataclass(frozen=True)
class ModelConfigs:
    autoregressive: AutoregressiveConfig
    clvp: CLVPConfig
    cvvp: CVVPConfig
    diffusion: DiffusionConfig
    vocoder: UnivNetConfig
    dvae: DvaeConfig

    @classmethod
    def for_size(cls, size: str) -> ModelConfigs:
        if size == "official":
            return cls(AutoregressiveConfig.official(), CLVPConfig.official(), CVVPConfig.official(),
                       OFFICIAL_DIFFUSION, OFFICIAL_UNIVNET, OFFICIAL_DVAE)
        if size == "tiny":
            # The diffusion decoder reads the AR model's hidden states: its latent width follows the AR's.
            diffusion = dataclasses.replace(TINY_DIFFUSION, in_latent_channels=_TINY_AR.model_dim)
            return cls(_TINY_AR, CLVPConfig.tiny(), CVVPConfig.tiny(), diffusion, TINY_UNIVNET, TINY_DVAE)
        raise EvalkitError(f"unknown TorToiSe model size {size!r} (known: official, tiny)")


_MODULES = {"autoregressive": UnifiedVoice, "clvp": CLVP, "cvvp": CVVP, "diffusion": DiffusionTts,
            "vocoder": UnivNetGenerator, "dvae": DiscreteVAE}


@dataclass(frozen=True)
class ComponentWeights:
    """Where one component's weights come from; `to_json()` is its run.json `checkpoints` entry."""

    component: str
    sha256: str
    source: str  # "local:<path>", the registry's "hf:<repo>@<revision>", or "random"
    path: Path | None = None
    init_seed: int | None = None  # random weights only

    @property
    def random(self) -> bool:
        return self.path is None

    def to_json(self) -> dict[str, Any]:
        out = {"path": None if self.path is None else str(self.path), "sha256": self.sha256, "source": self.source}
        if self.random:
            out.update(random=True, init_seed=self.init_seed)
        return out


def _component_seed(init_seed: int, component: str) -> int:
    """A seed per component, so adding or swapping one component leaves the others' random weights as they were."""
    digest = hashlib.sha256(f"{init_seed}\x00{component}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def random_weights(component: str, configs: ModelConfigs, init_seed: int) -> ComponentWeights:
    """Random weights, identified by a hash of everything that determines them."""
    recipe = {
        "component": component,
        "config": dataclasses.asdict(getattr(configs, component)),
        "init": "PyTorch default initialisation on CPU under torch.manual_seed(component seed)",
        "component_seed": _component_seed(init_seed, component),
        "torch": torch.__version__.split("+")[0],
    }
    sha = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    return ComponentWeights(component, sha, "random", None, init_seed)


def cached_weights(component: str) -> ComponentWeights | None:
    """The official file if it is already in the weights cache (verified), else None; never downloads."""
    from evalkit import weights

    spec = weights.get_spec(weight_name(component))
    folder = weights.folder_of(spec)
    hashes = weights.verify_folder(spec, folder)
    if hashes is None:
        return None
    file = FILES[component]
    return ComponentWeights(component, hashes[file], weights.read_lock(folder)["source"], folder / file)


def _registry_weights(component: str) -> ComponentWeights:
    from evalkit import weights

    name = weight_name(component)
    try:
        resolved = weights.resolve(name)
    except weights.WeightsError as exc:
        expected = weights.folder_of(weights.get_spec(name)) / FILES[component]
        raise weights.WeightsError(
            f"TorToiSe component {component!r}: no weights at {expected}. Fetch them with "
            f"`evalkit weights fetch {name}` (needs access to huggingface.co), give a file with "
            f"--checkpoint {component}=PATH, or run on random weights (--option random_weights=true; "
            f"the audio is then noise). Details: {exc}"
        ) from None
    return ComponentWeights(component, resolved.sha256, resolved.source, resolved.path)


def local_weights(component: str, path: str | Path) -> ComponentWeights:
    from evalkit.weights import file_sha256

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise EvalkitError(f"checkpoint for TorToiSe component {component!r} not found: {path}")
    return ComponentWeights(component, file_sha256(path), f"local:{path}", path)


def component_weights(component: str, configs: ModelConfigs, *, checkpoint: str | Path | None = None,
                      random: bool = False, init_seed: int = 0) -> ComponentWeights:
    """An override file, else random weights when asked, else the official file from the registry."""
    if checkpoint is not None:
        return local_weights(component, checkpoint)
    if random:
        return random_weights(component, configs, init_seed)
    return _registry_weights(component)


def resolve_weights(options: TortoiseOptions, configs: ModelConfigs) -> dict[str, ComponentWeights]:
    """Every component the options need (see `TortoiseOptions.components`)."""
    return {
        c: component_weights(c, configs, checkpoint=options.checkpoints.get(c), random=options.random_weights,
                             init_seed=options.init_seed)
        for c in options.components
    }


def build_module(component: str, configs: ModelConfigs, weights: ComponentWeights) -> nn.Module:
    """The module with its weights, on CPU, float32, in eval mode."""
    if weights.random:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_component_seed(weights.init_seed, component))
            return _MODULES[component](getattr(configs, component)).eval()
    module = _MODULES[component](getattr(configs, component)).eval()
    if component == "vocoder":
        # tortoise's format: {"model_g": generator state dict}, convolutions weight-normalised (folded here).
        load_weights(module, convert_official_state_dict(read_state_dict(weights.path, VOCODER_SUBKEY)))
    elif component == "dvae":
        try:
            load_dvae_state_dict(module, read_state_dict(weights.path), source=str(weights.path))
        except ValueError as exc:
            raise CheckpointError(str(exc)) from None
    else:
        load_weights(module, weights.path)
    return module


@dataclass(frozen=True)
class StageDtypes:
    """Precision per model. CLVP, CVVP and the vocoder are always float32 (see `for_device`)."""

    autoregressive: torch.dtype = torch.float32
    diffusion: torch.dtype = torch.float32  # autocast dtype of the diffusion decoder's forward passes

    @classmethod
    def for_device(cls, option: str, device: torch.device) -> StageDtypes:
        """"auto": float32 on CPU; on CUDA bfloat16 for the two models whose speed matters.

        The AR model: the sampler's decode steps are memory-bound, and bfloat16 keeps float32's exponent
        range, so the 30-layer residual stream and the logits cannot overflow as they could in float16
        (which tortoise's `half=True` uses). The diffusion decoder: autocast with group norms, the timestep
        embedding, first layer and output head kept in float32, and the sampler's arithmetic in float32
        (see diffusion.py). CLVP scores are reported as a metric and decide the ranking, and the vocoder is
        small: both stay float32, where they cost little.
        """
        if option == "auto":
            reduced = torch.bfloat16 if device.type == "cuda" else torch.float32
            return cls(reduced, reduced)
        dtype = getattr(torch, option)
        return cls(dtype, dtype)

    def to_json(self) -> dict[str, str]:
        name = lambda dtype: str(dtype).removeprefix("torch.")  # noqa: E731
        return {"autoregressive": name(self.autoregressive), "diffusion": name(self.diffusion),
                "clvp": "float32", "cvvp": "float32", "vocoder": "float32"}


@dataclass
class TortoiseModels:
    """The loaded models, resident on one device (CVVP only when ranking uses it)."""

    configs: ModelConfigs
    device: torch.device
    dtypes: StageDtypes
    autoregressive: UnifiedVoice
    clvp: CLVP
    diffusion: DiffusionTts
    vocoder: UnivNetGenerator
    cvvp: CVVP | None = None

    @classmethod
    def load(cls, configs: ModelConfigs, weights: Mapping[str, ComponentWeights], device: str | torch.device,
             dtypes: StageDtypes) -> TortoiseModels:
        device = torch.device(device)
        modules = {}
        for component, source in weights.items():
            # The AR model is cast (its KV cache takes its dtype; its output head stays float32, see
            # `UnifiedVoice.cast`); the diffusion decoder runs under autocast.
            module = build_module(component, configs, source).to(device=device, dtype=torch.float32)
            if component == "autoregressive":
                module = module.cast(dtypes.autoregressive)
            modules[component] = module
        missing = {"autoregressive", "clvp", "diffusion", "vocoder"} - modules.keys()
        if missing:
            raise EvalkitError(f"TorToiSe needs weights for {sorted(missing)}")
        return cls(configs, device, dtypes, **modules)
