"""The system interface: anything that turns items into audio.

A system is configured by keyword options (all JSON-serialisable; they form its
config, recorded in run.json and part of the generation cache key), loads its models
in `setup(device)`, and synthesizes batches of items. Per-item seeds are computed by
the runner from (run seed, item id) -- never from batch position -- so output does not
depend on batch size, sharding or executor.
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Mapping, Sequence

from evalkit.options import option_defaults, resolve_options
from evalkit.types import Item, ItemError, Synthesis


def item_seed(run_seed: int, item_id: str) -> int:
    """A 63-bit seed that depends only on the run seed and the item id."""
    digest = hashlib.sha256(f"{run_seed}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class System(ABC):
    """Base class for TTS systems.

    Subclasses set `name`, document their options, and implement `synthesize`.
    `synthesize` returns one entry per item, in order: a Synthesis, or an ItemError
    for an item that failed (a raised exception fails the whole batch; the runner then
    retries the items one at a time so that one bad item cannot sink the others).
    """

    name: ClassVar[str] = "system"
    description: ClassVar[str] = ""
    # Items per synthesize() call the runner aims for.
    batch_size: ClassVar[int] = 1
    # False when output cannot be reproduced from the seed (never served from cache).
    deterministic: ClassVar[bool] = True
    # False for systems that read audio made elsewhere (ground truth, audio-dir):
    # nothing is generated, so nothing is cached or timed (RTF is not applicable).
    generates: ClassVar[bool] = True
    # Whether the system needs items to carry a speaker prompt.
    needs_prompt: ClassVar[bool] = False
    # Metrics that read this system's own extras (TorToiSe: its CLVP score, how decoding
    # ended), computed after the suite's metrics unless the run names its metrics itself.
    extra_metrics: ClassVar[tuple[str, ...]] = ()

    # The system's options: a frozen dataclass (evalkit.options); None: it has none.
    Options: ClassVar[type | None] = None

    def __init__(self, **options: Any) -> None:
        # `opts`: the validated Options instance; `options`: its JSON form (run.json, cache keys).
        self.opts, self.options = resolve_options("system", self.name, type(self), options)

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """Every option the system accepts, with its default."""
        return {} if cls.Options is None else option_defaults(cls.Options)

    def config(self) -> dict[str, Any]:
        """The full configuration, as recorded in run.json and hashed for caching."""
        return {"name": self.name, "options": dict(self.options)}

    def checkpoints(self) -> Mapping[str, Mapping[str, Any]]:
        """Model components -> {"path": ..., "sha256": ...}; empty when there are none.

        May be called before setup(); resolving weights here is expected.
        """
        return {}

    def setup(self, device: str) -> None:  # noqa: B027 - optional hook
        """Load models onto `device` ("cpu", "cuda", "cuda:1"...)."""

    def model_key(self) -> Any:
        """What the loaded models depend on, for systems whose configs can differ while their
        models do not (TorToiSe presets): a system with an equal key takes over a loaded one's
        models through `share_models` instead of loading its own. None: never shared."""
        return None

    def share_models(self, loaded: System) -> None:
        """Use the models of `loaded` (set up, with an equal `model_key`) instead of `setup`."""
        raise NotImplementedError(f"{self.name} does not share models")

    def warmup(self) -> None:  # noqa: B027 - optional hook
        """Run once after setup, untimed (CUDA graph capture, kernel autotuning)."""

    @abstractmethod
    def synthesize(
        self, items: Sequence[Item], seeds: Sequence[int | None]
    ) -> list[Synthesis | ItemError]:
        """Synthesize `items`; `seeds[i]` seeds item i (None: unseeded)."""

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Release models and devices."""
