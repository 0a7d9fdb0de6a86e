"""Checkpoint loading: weights-only, strict, one documented set of legacy keys dropped."""
import hashlib
import pickle

import pytest
import torch

from evalkit.hashing import sha256_file
from evalkit.tortoise.autoregressive import AutoregressiveConfig, UnifiedVoice
from evalkit.tortoise.checkpoint import CheckpointError, load_weights, read_state_dict
from evalkit.tortoise.clvp import CLVP, CLVPConfig

TINY = AutoregressiveConfig.tiny()


def _with_legacy_buffers(state: dict) -> dict:
    """Add what old transformers saved per GPT-2 layer, as in the official autoregressive.pth."""
    positions = 8
    state = dict(state)
    for layer in range(TINY.layers):
        state[f"gpt.h.{layer}.attn.bias"] = torch.tril(torch.ones(positions, positions, dtype=torch.bool)).view(
            1, 1, positions, positions
        )
        state[f"gpt.h.{layer}.attn.masked_bias"] = torch.tensor(-1e4)
    return state


def test_official_style_autoregressive_file_loads(tmp_path):
    source = UnifiedVoice(TINY)
    path = tmp_path / "autoregressive.pth"
    torch.save(_with_legacy_buffers(source.state_dict()), path)
    target = UnifiedVoice(TINY)
    dropped = load_weights(target, path)
    assert dropped == sorted(f"gpt.h.{i}.attn.{name}" for i in range(TINY.layers) for name in ("bias", "masked_bias"))
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_mismatches_are_listed(tmp_path):
    state = UnifiedVoice(TINY).state_dict()
    del state["final_norm.bias"]
    state["gpt.h.0.attn.rotary.weight"] = torch.zeros(3)  # unexpected, and not a legacy buffer
    state["mel_head.bias"] = torch.zeros(5)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        load_weights(UnifiedVoice(TINY), path)
    message = str(error.value)
    assert str(path) in message and "UnifiedVoice" in message
    assert "missing keys (1): final_norm.bias" in message
    assert "unexpected keys (1): gpt.h.0.attn.rotary.weight" in message
    assert "mel_head.bias (file (5,), model (8194,))" in message


def test_legacy_names_are_only_dropped_for_gpt2_layers():
    state = CLVP(CLVPConfig.tiny()).state_dict()
    state["text_emb.attn.bias"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected keys \\(1\\): text_emb.attn.bias"):
        load_weights(CLVP(CLVPConfig.tiny()), state)


def test_subkey_selects_nested_weights(tmp_path):
    model = CLVP(CLVPConfig.tiny())
    path = tmp_path / "vocoder_like.pth"
    torch.save({"model_g": model.state_dict(), "step": torch.tensor(7)}, path)
    assert load_weights(CLVP(CLVPConfig.tiny()), path, subkey="model_g") == []
    with pytest.raises(CheckpointError, match="no entry 'generator'.*model_g"):
        read_state_dict(path, subkey="generator")
    with pytest.raises(CheckpointError, match="mapping of parameter names to tensors"):
        read_state_dict(path)  # without the subkey, "step" is at the top level next to a dict


class _NotWeights:
    pass


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("touch ran",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        pickle.dump({"weight": _NotWeights()}, file)
    with pytest.raises(CheckpointError) as err:
        read_state_dict(path)
    message = str(err.value)
    assert message.startswith(f"{path}: refused: the checkpoint holds Python objects other than tensors")
    assert "(Unsupported operand" in message  # torch's diagnosis of what the file holds is kept...
    assert "weights_only" not in message and "False" not in message  # ...its advice to load unsafely is not
    code = tmp_path / "code.pth"
    with open(code, "wb") as file:
        pickle.dump({"weight": _RunsCode()}, file)
    with pytest.raises(CheckpointError, match="refused") as err:
        read_state_dict(code)
    assert "weights_only" not in str(err.value) and not (tmp_path / "ran").exists()
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "absent.pth")


def test_sha256_streams_across_chunks(tmp_path):
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 5000 + b"tail"  # over one 1 MiB read
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
