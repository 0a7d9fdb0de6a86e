"""torch.load of weights, always weights_only=True, with errors that say what to do.

A checkpoint that holds more than tensors and plain containers is refused before any
of it runs. torch's own message then advises "re-running torch.load with weights_only
set to False": the one thing evalkit must never suggest, so the refusal is reworded
(keeping torch's diagnosis of what the file holds).
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

from evalkit.types import EvalkitError

_DIAGNOSIS = re.compile(r"WeightsUnpickler error:\s*(\S.*?)\s*(?:\n\s*\n|Check the documentation|$)", re.S)


def load_weights_only(path: str | Path, error: type[EvalkitError] = EvalkitError) -> Any:
    """torch.load(path, map_location="cpu", weights_only=True); any failure raises `error` naming the file."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _DIAGNOSIS.search(str(exc))
        detail = f" ({found.group(1).splitlines()[0]})" if found else ""
        raise error(f"{path}: refused: the checkpoint holds Python objects other than tensors{detail}, and loading "
                    "them could run code. evalkit loads weights only: save the tensors alone, e.g. "
                    "torch.save(model.state_dict(), path) from a trusted copy") from None
    except Exception as exc:  # torch raises several types for foreign or corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise error(f"{path}: cannot be read as a torch checkpoint ({first})") from None
