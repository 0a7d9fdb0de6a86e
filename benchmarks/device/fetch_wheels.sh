#!/usr/bin/env bash
# Collect the wheels the CUDA machine's environment lacks into .whl/ (git-ignored), to be copied
# there beside the checkout. That environment is Python 3.12 with torch 2.11, numpy, scipy, numba,
# tiktoken, einops, sentencepiece, huggingface_hub 1.x, tokenizers 0.23 and transformers 5.x
# (the full list: benchmarks/device/image-packages.txt); everything else evalkit, its scorers and
# the tortoise-tts 3.0.0 reference need is collected here. Run from the repo root, with PyPI access.
set -euo pipefail
out=.whl
rm -rf "$out" && mkdir -p "$out"
PIP="python3 -m pip --disable-pip-version-check -q"
binary() {  # manylinux wheels for CPython 3.12
  $PIP download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$out" "$@"
}
# evalkit itself: audio I/O and the TorToiSe text front end
binary soundfile==0.14.0 cffi==2.0.0 pycparser==2.23 inflect==7.6.0 typeguard==4.4.4 more-itertools==10.8.0 \
  jaraco.functools==4.6.0 unidecode==1.4.0
# scorers: openai-whisper (sdist: built here), jiwer, SpeechBrain ECAPA
binary jiwer==4.0.0 rapidfuzz==3.14.3 speechbrain==1.1.2 hyperpyyaml==1.2.2 ruamel.yaml==0.18.16 \
  ruamel.yaml.clib==0.2.14
$PIP wheel --no-deps -w "$out" openai-whisper==20250625
# the reference implementation (--reference): transformers <= 4.47.1 needs tokenizers < 0.22
# and huggingface_hub < 1.0; its UnivNet mel imports librosa
binary transformers==4.47.1 tokenizers==0.21.4 huggingface-hub==0.36.0 rotary-embedding-torch==0.9.1 \
  librosa==0.11.0 soxr==1.0.0 audioread==3.1.0 pooch==1.8.2 decorator==5.2.1 platformdirs==4.5.0
$PIP wheel --no-deps -w "$out" progressbar==2.5 tortoise-tts==3.0.0
# tortoise-tts's wheel carries 30 MB of voice clips nobody needs for timing: drop them
python3 - "$out" <<'PY'
import sys, zipfile, pathlib
for wheel in pathlib.Path(sys.argv[1]).glob("tortoise_tts-*.whl"):
    slim = wheel.with_suffix(".slim")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if "/voices/" in item.filename:
                continue
            data = src.read(item)
            if item.filename.endswith("/RECORD"):
                data = b"\n".join(l for l in data.split(b"\n") if b"/voices/" not in l)
            dst.writestr(item, data)
    slim.replace(wheel)
PY
# Every collected wheel's requirements must be collected too or already installed there: a gap
# found here costs nothing, one found on the GPU machine costs its time.
python3 - "$out" benchmarks/device/image-packages.txt <<'PY'
import email, pathlib, re, sys, zipfile
def canon(name): return re.sub(r"[-_.]+", "-", name).lower()
wheels = list(pathlib.Path(sys.argv[1]).glob("*.whl"))
have = {canon(w.name.split("-")[0]) for w in wheels}
have |= {canon(l) for l in pathlib.Path(sys.argv[2]).read_text().split("\n") if l and not l.startswith("#")}
missing = set()
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        meta = email.message_from_bytes(z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))))
    for req in meta.get_all("Requires-Dist") or []:
        if "extra ==" in req or 'python_version < "3.1' in req or 'python_version >= "3.13"' in req:
            continue
        name = canon(re.match(r"[A-Za-z0-9._-]+", req).group(0))
        if name not in have:
            missing.add(f"{name} (for {wheel.name})")
if missing:
    sys.exit("collected wheels need packages neither collected nor in image-packages.txt: " + ", ".join(sorted(missing)))
PY
du -sh "$out"
