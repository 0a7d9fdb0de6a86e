"""TorToiSe's checkpoints in evalkit's weights registry: one entry per component, `tortoise/<component>`.

`evalkit.weights` imports this module to find them (`SPEC_MODULES`); like that module it imports
neither torch nor numpy. Each component is its own entry so that one can be fetched, swapped or
verified without the others (CVVP is only fetched when `cvvp_amount > 0`, the DVAE only for the
experimental CLVP scoring of other systems' audio):

    evalkit weights fetch tortoise/autoregressive     # -> <weights root>/tortoise/autoregressive/autoregressive.pth

Source: the Hugging Face repository that tortoise-tts 3.0.0's api.py downloads from
(`hf_hub_download(repo_id="Manmay/tortoise-tts", ...)`). The files are used unchanged.

Pinning: this machine cannot reach the hub, so neither the repository's commit nor the files' sha256
are known here. The revision is "main" and every sha256 is unpinned: `evalkit.weights` then trusts a
file on first fetch, records its hash in the lock record (and run.json records it for every run), and
verifies every later use against that record. Whoever first fetches them should pin both: replace
REVISION by the commit id (`huggingface_hub.HfApi().model_info("Manmay/tortoise-tts").sha`) and give
each WeightFile the sha256 that `evalkit weights list` shows.
"""
from __future__ import annotations

from evalkit.weights import HubSource, WeightFile, WeightSpec, register

REPO = "Manmay/tortoise-tts"
REVISION = "main"  # unpinned: see the module docstring
LICENSE = "Apache-2.0"

# Component -> file in the repository. The five pipeline files are the names tortoise's api.py loads
# (`evalkit.tortoise.checkpoint.COMPONENT_FILES` derives from this); dvae.pth is the discrete VAE (see dvae.py).
FILES = {
    "autoregressive": "autoregressive.pth",
    "clvp": "clvp2.pth",
    "cvvp": "cvvp.pth",
    "diffusion": "diffusion_decoder.pth",
    "vocoder": "vocoder.pth",
    "dvae": "dvae.pth",
}
DESCRIPTIONS = {
    "autoregressive": "TorToiSe autoregressive model (UnifiedVoice, 421.5 M parameters)",
    "clvp": "TorToiSe CLVP text/speech-code ranker (243.8 M)",
    "cvvp": "TorToiSe CVVP voice/speech-code ranker (37.8 M; used when cvvp_amount > 0)",
    "diffusion": "TorToiSe diffusion decoder (292.3 M)",
    "vocoder": "TorToiSe UnivNet vocoder (14.8 M)",
    "dvae": "TorToiSe discrete VAE (EXPERIMENTAL: CLVP scores of audio from other systems)",
}


def weight_name(component: str) -> str:
    return f"tortoise/{component}"


for _component, _file in FILES.items():
    register(
        WeightSpec(
            name=weight_name(_component),
            description=DESCRIPTIONS[_component],
            files=(WeightFile(_file),),
            source=HubSource(REPO, REVISION),
            entry=_file,
            license=LICENSE,
        )
    )
