"""TorToiSe's autoregressive model (tortoise's `UnifiedVoice`): text + voice -> discrete mel codes.

The GPT-2 stack (`gpt2.py`) reads one sequence per candidate:

    [conditioning latent] [start_text, text ids..., stop_text] [start_mel, code_1, code_2, ...]
     position -             text positions 0..T+1                mel positions 0, 1, 2, ...

Each segment adds its own learned position embedding (GPT-2's own ones are unused). The hidden state
at `start_mel` predicts code 1, the one at code i predicts code i+1; after `gpt.ln_f` the model applies
`final_norm` once more and `mel_head` gives logits over 8194 ids (8192 codes, start 8192, stop 8193).

Methods (all parity-tested against tortoise-tts 3.0.0):

* `conditioning_latent(mels)`: voice latent from one or more 80-bin 22.05 kHz normalised mels
  (tortoise's `get_conditioning`);
* `mel_logits(cond, text, codes)`: teacher-forced logits (tortoise's `forward(...)` mel logits);
* `latents(cond, text, codes)`: the "return latent" pass the diffusion decoder is conditioned on
  (tortoise's `forward(..., return_latent=True, clip_inputs=False)`);
* `prefill` / `decode_step`: the primitives `decoding.CodeSampler` samples with.

The reference's KV-cache bug (found while building this, and the reason `decode_step` takes an explicit
mel position)
--------------------------------------------------------------------------------------------------------
Where: tortoise/models/autoregressive.py, `GPT2InferenceModel.forward`, the branch taken when the KV cache
is on and one new token is fed (`input_ids.shape[1] == 1`). It adds
`text_pos_embedding.get_fixed_embedding(attention_mask.shape[1] - mel_len)`, where `mel_len` is the
length of the cached conditioning+text prefix and `attention_mask` already includes the new token.
What: when code i is fed, that index evaluates to i + 1, but in training (`UnifiedVoice.forward`: start
token at mel position 0, code i at mel position i) and in the uncached generation path (which
re-embeds all mel tokens with positions 0..n-1) code i sits at mel position i. Every cached step
therefore uses the position embedding one too far.
Consequence: `TextToSpeech(kv_cache=True)` samples from a slightly different model than the one that
was trained; cached and uncached generation disagree (`tests/tortoise/test_autoregressive.py` shows
different greedy codes on a small random model). evalkit reproduces the uncached (trained) behaviour while
still using a KV cache: `decode_step` embeds code i at mel position i.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from evalkit.tortoise.channel_attention import ChannelAttentionBlock
from evalkit.tortoise.gpt2 import GPT2Stack, KVCache

CALM_TOKEN = 83  # the code of silence, written by fix_autoregressive_output
END_OF_SPEECH_CODES = (45, 45, 248)  # what the DVAE emits for zero padding: the diffusion model's "end"
MAX_CALM_RUN = 8  # longer runs of CALM_TOKEN end the audio (tortoise's "breathing room")
CONDITIONING_BLOCKS = 6  # attention blocks of the conditioning encoder (fixed in tortoise, whatever the size)


@dataclass(frozen=True)
class AutoregressiveConfig:
    """Hyperparameters of `UnifiedVoice`; `official()` is what tortoise's api.py builds."""

    layers: int = 30
    model_dim: int = 1024
    heads: int = 16
    max_text_tokens: int = 402
    max_mel_tokens: int = 604
    max_conditioning_inputs: int = 2
    number_text_tokens: int = 255
    start_text_token: int = 255
    stop_text_token: int = 0
    number_mel_codes: int = 8194
    start_mel_token: int = 8192
    stop_mel_token: int = 8193
    mel_channels: int = 80
    mel_length_compression: int = 1024  # audio samples per code

    @classmethod
    def official(cls) -> AutoregressiveConfig:
        return cls()

    @classmethod
    def tiny(cls) -> AutoregressiveConfig:
        """Same structure, small enough for CPU tests (the code vocabulary is kept: it carries meaning)."""
        return cls(layers=2, model_dim=64, heads=4, max_text_tokens=40, max_mel_tokens=60)

    @property
    def text_vocab_size(self) -> int:
        return self.number_text_tokens + 1  # + start_text_token (tortoise's types=1)

    @property
    def text_positions(self) -> int:
        return self.max_text_tokens + 2  # + start and stop

    @property
    def mel_positions(self) -> int:
        return self.max_mel_tokens + 2 + self.max_conditioning_inputs


class ConditioningEncoder(nn.Module):
    """Mel (batch, 80, frames) -> (batch, dim): 1x1 conv, attention blocks, then the first frame."""

    def __init__(self, mel_channels: int, dim: int, blocks: int, heads: int):
        super().__init__()
        self.init = nn.Conv1d(mel_channels, dim, kernel_size=1)
        self.attn = nn.Sequential(*(ChannelAttentionBlock(dim, heads) for _ in range(blocks)))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.attn(self.init(mel.to(self.init.weight.dtype)))[:, :, 0]


class PositionEmbedding(nn.Module):
    """A learned position table (parameter `emb.weight`, as in the checkpoint)."""

    def __init__(self, positions: int, dim: int):
        super().__init__()
        self.emb = nn.Embedding(positions, dim)
        nn.init.normal_(self.emb.weight, std=0.02)

    def first(self, length: int) -> torch.Tensor:
        if length > self.emb.num_embeddings:
            raise ValueError(f"{length} positions exceed the model's table of {self.emb.num_embeddings}")
        return self.emb.weight[:length]


class UnifiedVoice(nn.Module):
    def __init__(self, config: AutoregressiveConfig = AutoregressiveConfig()):
        super().__init__()
        c = self.config = config
        self.conditioning_encoder = ConditioningEncoder(c.mel_channels, c.model_dim, CONDITIONING_BLOCKS, c.heads)
        self.text_embedding = nn.Embedding(c.text_vocab_size, c.model_dim)
        self.mel_embedding = nn.Embedding(c.number_mel_codes, c.model_dim)
        self.gpt = GPT2Stack(c.layers, c.model_dim, c.heads)
        self.mel_pos_embedding = PositionEmbedding(c.mel_positions, c.model_dim)
        self.text_pos_embedding = PositionEmbedding(c.text_positions, c.model_dim)
        self.final_norm = nn.LayerNorm(c.model_dim)
        self.text_head = nn.Linear(c.model_dim, c.text_vocab_size)  # unused at inference, kept for the keys
        self.mel_head = nn.Linear(c.model_dim, c.number_mel_codes)
        for embedding in (self.text_embedding, self.mel_embedding):
            nn.init.normal_(embedding.weight, std=0.02)

    def cast(self, dtype: torch.dtype) -> UnifiedVoice:
        """The model in `dtype` (its KV cache follows), except the output: `final_norm` and `mel_head` stay
        float32, so the logits that are sampled are float32 products whatever the stack's precision.

        Why: tortoise's `half=True` runs under float16 autocast, which computes LayerNorm in float32 and the
        head in float16 (10-bit mantissa). A head cast to bfloat16 (7-bit mantissa) would round each logit
        to |logit| * 2^-8, 8x coarser than the reference, right where the next code is drawn. The float32
        head costs one 1024 x 8194 matmul per step; docs/tortoise.md has the measured effect.
        """
        self.to(dtype)
        self.final_norm.float()
        self.mel_head.float()
        return self

    def _normalized(self, hidden: torch.Tensor) -> torch.Tensor:
        """`final_norm` in its own dtype (float32 after `cast`): the latents and the logits' input."""
        return self.final_norm(hidden.to(self.final_norm.weight.dtype))

    # -- inputs -----------------------------------------------------------------------------------

    def conditioning_latent(self, mels) -> torch.Tensor:
        """Voice latent (batch, dim), the mean of the per-clip latents.

        `mels`: (batch, 80, frames), (batch, clips, 80, frames), or a list of (80, frames) clips of one
        voice (possibly of different lengths; gives batch 1).
        """
        if isinstance(mels, (list, tuple)):
            return torch.stack([self.conditioning_encoder(m.unsqueeze(0)) for m in mels]).mean(0)
        if mels.dim() == 3:
            mels = mels.unsqueeze(1)
        clips = [self.conditioning_encoder(mels[:, j]) for j in range(mels.shape[1])]
        return torch.stack(clips, dim=1).mean(dim=1)

    def _prompt(self, cond_latent: torch.Tensor, text_tokens: torch.Tensor) -> torch.Tensor:
        """Embeddings of [cond, start_text, text, stop_text, start_mel]: (batch, text + 4, dim)."""
        c = self.config
        if text_tokens.shape[1] > c.max_text_tokens:
            raise ValueError(f"text has {text_tokens.shape[1]} tokens; this model reads at most {c.max_text_tokens}")
        text = F.pad(F.pad(text_tokens, (1, 0), value=c.start_text_token), (0, 1), value=c.stop_text_token)
        text_emb = self.text_embedding(text) + self.text_pos_embedding.first(text.shape[1])
        start = self.mel_embedding.weight[c.start_mel_token] + self.mel_pos_embedding.first(1)[0]
        batch = text_emb.shape[0]
        return torch.cat(
            [cond_latent.to(text_emb.dtype).unsqueeze(1), text_emb, start.expand(batch, 1, -1)], dim=1
        )

    def _mel_hidden(self, cond_latent, text_tokens, codes) -> torch.Tensor:
        """Normalised hidden states at [start_mel, code_1..code_L]: (batch, L + 1, dim)."""
        prompt = self._prompt(cond_latent, text_tokens)
        code_emb = self.mel_embedding(codes) + self.mel_pos_embedding.first(codes.shape[1] + 1)[1:]
        hidden = self.gpt(torch.cat([prompt, code_emb], dim=1))
        return self._normalized(hidden[:, prompt.shape[1] - 1 :])

    # -- teacher forcing --------------------------------------------------------------------------

    def mel_logits(self, cond_latent, text_tokens, codes) -> torch.Tensor:
        """Logits (batch, L + 1, 8194): row 0 predicts code 1, row L predicts what follows code L."""
        return self.mel_head(self._mel_hidden(cond_latent, text_tokens, codes))

    def latents(self, cond_latent, text_tokens, codes) -> torch.Tensor:
        """The return-latent pass: (batch, L, dim), the states that predicted codes 1..L.

        Feed it the codes as the pipeline scores them (padded and passed through
        `fix_autoregressive_output`), with the model text tokens (`text.model_text_tokens`), as
        tortoise's api.py does.
        """
        return self._mel_hidden(cond_latent, text_tokens, codes)[:, :-1]

    # -- decoding primitives ----------------------------------------------------------------------

    def prefill(self, cond_latent, text_tokens, cache: KVCache) -> torch.Tensor:
        """Run the prompt (batch 1) into `cache` slots [0, P); returns logits (1, 8194) for code 1."""
        prompt = self._prompt(cond_latent, text_tokens)
        hidden = self.gpt(prompt, cache)
        return self.mel_head(self._normalized(hidden[:, -1]))

    def decode_step(self, codes, mel_position, slot, cache: KVCache) -> torch.Tensor:
        """Feed `codes` (batch,) at `mel_position` (1-element tensor), written at cache `slot`.

        Returns logits (batch, 8194) for the following code. Code i belongs at mel position i (see the
        module docstring for the reference's off-by-one here).
        """
        x = self.mel_embedding(codes) + self.mel_pos_embedding.emb(mel_position)
        hidden = self.gpt.step(x.unsqueeze(1), cache, slot, cache.mask_through(slot))
        return self.mel_head(self._normalized(hidden[:, -1]))


def fix_autoregressive_output(codes: torch.Tensor, stop_token: int = 8193) -> torch.Tensor:
    """tortoise's `fix_autoregressive_output`, as a pure function of one padded code row.

    From the first stop token on, codes become CALM_TOKEN (silence), and the last three positions of
    the row become END_OF_SPEECH_CODES, the padding the diffusion decoder was trained to see. A row
    without a stop token is returned unchanged (tortoise prints a warning there; callers get the stop
    reason from `decoding.SampledCodes`). `codes` is not modified.
    """
    stops = (codes == stop_token).nonzero()
    if len(stops) == 0:
        return codes.clone()
    fixed = codes.clone()
    fixed[int(stops.min()) :] = CALM_TOKEN
    fixed[-len(END_OF_SPEECH_CODES) :] = fixed.new_tensor(END_OF_SPEECH_CODES)
    return fixed


def pad_codes(codes: torch.Tensor, length: int, stop_token: int = 8193) -> torch.Tensor:
    """Right-pad (batch, L) codes with the stop token to `length` (tortoise pads to max_mel_tokens)."""
    return F.pad(codes, (0, length - codes.shape[-1]), value=stop_token)


def speech_length(codes: torch.Tensor) -> int:
    """How many AR latents the diffusion decoder gets for one fixed code row.

    tortoise cuts the latents at the code where a run of CALM_TOKEN first exceeds MAX_CALM_RUN, giving
    the diffusion model some silence to end on; without such a run all latents are used.
    """
    run = 0
    for index, code in enumerate(codes.tolist()):
        run = run + 1 if code == CALM_TOKEN else 0
        if run > MAX_CALM_RUN:
            return index
    return len(codes)
