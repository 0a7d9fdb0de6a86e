"""Suite specs: a declarative YAML file (name, version, main metric, item source).

A suite is found by name among the YAML files of `EVALKIT_SUITES` (a colon-separated
list of folders) and the built-in `suites/` folder (evalkit.packaged), then among the
suites installed packages register (entry points, group `evalkit.suites`), or given as
a path to a YAML spec or a bare JSONL items file. Items come from a manifest (inline or
JSONL) or from a named loader (e.g. LibriSpeech-PC, Seed-TTS meta.lst).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from evalkit.packaged import builtin_dir
from evalkit.textfile import parse_yaml, read_text
from evalkit.types import EvalkitError

DEFAULT_METRICS = ("wer", "sim", "rtf", "duration")
# A suite's name becomes a folder (runs/<suite>/, baselines/<suite>/): no separators, no "..".
SUITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+ -]{0,99}")
# Entry-point group of suites that installed packages register: `name = "pkg.module:ATTR"`, where ATTR
# is the path of the suite's YAML spec (or JSONL items file), or a function returning it.
SUITE_GROUP = "evalkit.suites"

# Loaders for items that come from somewhere other than a manifest; each is a
# "module:function" taking the SuiteSpec and returning list[RawItem].
LOADERS = {
    "manifest": "evalkit.suites.manifest:load_manifest_items",
    "librispeech-pc": "evalkit.suites.librispeech:load_items",
    "seedtts": "evalkit.suites.seedtts:load_items",
}
# Data builders for `evalkit suites build NAME`: "module:function(spec, root, quiet)".
BUILDERS = {
    "librispeech-pc": "evalkit.suites.librispeech:build",
    "seedtts": "evalkit.suites.seedtts:build",
}


class SuiteError(EvalkitError):
    """A suite that cannot be loaded at all (syntax error, duplicate id, escaping path)."""


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    version: str
    description: str
    path: Path  # the YAML (or JSONL) file this spec came from
    root: Path  # folder that relative item paths are resolved against
    main_metric: str = "wer"
    default_system: str = "tortoise"
    metrics: tuple[str, ...] = DEFAULT_METRICS
    loader: str = "manifest"
    options: Mapping[str, Any] = field(default_factory=dict)  # loader options / inline items
    prompt_audio: str | None = None  # suite-level default speaker prompt (relative to root)
    prompt_text: str | None = None
    extra_prompt_audio: tuple[str, ...] = ()  # more clips of the default prompt's speaker
    # metric name -> options for this suite (e.g. {"wer": {"main": "macro"}}): over the
    # protocol's, under --metric-option; checked against each metric's Options when it runs.
    metric_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def suite_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("EVALKIT_SUITES", "").split(":") if p]
    return [*extra, builtin_dir("suites")]


def builtin_suites() -> dict[str, Path]:
    """Suite name -> YAML path, for every suite found in suite_dirs()."""
    found: dict[str, Path] = {}
    for folder in reversed(suite_dirs()):  # earlier folders override later ones
        found.update(_folder_suites(folder))
    return found


def _folder_suites(folder: Path) -> dict[str, Path]:
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def plugin_suites():
    """Suites registered by installed packages (evalkit.registry.Plugins; nothing imported).
    A plugin cannot take a built-in suite's name."""
    from evalkit.registry import discover

    return discover(SUITE_GROUP, frozenset(_folder_suites(builtin_dir("suites"))))


def plugin_suite_path(name: str, entry) -> Path:
    """Import a registered suite's module and return its spec file."""
    from evalkit.registry import import_target

    value = import_target(entry.target)
    if callable(value):
        value = value()
    try:
        path = Path(os.fspath(value))
    except TypeError:
        raise SuiteError(f"suite {name!r} ({entry.origin}): {entry.target} is {value!r}, not a path") from None
    if not path.is_file():
        raise SuiteError(f"suite {name!r} ({entry.origin}): {entry.target} points at {path}, which is not a file")
    return path


def read_yaml(path: Path) -> Any:
    """Parse a suite's YAML safely; errors name the file, line and column."""
    return parse_yaml(read_text(path, SuiteError), str(path), SuiteError)


_SPEC_KEYS = {
    "name", "version", "description", "main_metric", "default_system", "metrics",
    "loader", "options", "items", "prompt_audio", "prompt_text", "root", "extra_prompt_audio", "metric_options",
}


def extra_prompt_paths(data: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """The `extra_prompt_audio` of a suite spec or an item row: a list of paths, given only beside
    a `prompt_audio` (the voice's first clip)."""
    extra = data.get("extra_prompt_audio") or []
    if not isinstance(extra, list) or not all(isinstance(p, str) and p for p in extra):
        raise SuiteError(f"{where}: extra_prompt_audio must be a list of string paths")
    if extra and not data.get("prompt_audio"):
        raise SuiteError(f"{where}: extra_prompt_audio needs a prompt_audio (the first clip of the voice)")
    return tuple(extra)


def spec_from_yaml(path: Path) -> SuiteSpec:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: a suite spec must be a YAML mapping")
    unknown = set(data) - _SPEC_KEYS
    if unknown:
        raise SuiteError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_SPEC_KEYS)}")
    for key in ("name", "version"):
        if not data.get(key):
            raise SuiteError(f"{path}: missing required key {key!r}")
    for key in ("name", "main_metric", "default_system", "loader", "prompt_audio", "prompt_text", "root"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise SuiteError(f"{path}: {key} must be a string, not {data[key]!r}")
    if not SUITE_NAME.fullmatch(str(data["name"])):
        raise SuiteError(f"{path}: suite name {data['name']!r}: letters, digits, '.', '_', '+', '-' and spaces, "
                         "starting with a letter or digit (it names folders under runs/ and baselines/)")
    if not isinstance(data["version"], (str, int, float)) or isinstance(data["version"], bool):
        raise SuiteError(f"{path}: version must be a string such as \"1\", not {data['version']!r}")
    if not isinstance(data.get("options") or {}, dict):
        raise SuiteError(f"{path}: options must be a mapping, not {data['options']!r}")
    options = dict(data.get("options") or {})
    if "items" in data:  # inline items or a JSONL file of them
        options["items"] = data["items"]
    loader = data.get("loader", "manifest")
    if loader not in LOADERS:
        raise SuiteError(f"{path}: unknown loader {loader!r} (known: {', '.join(LOADERS)})")
    extra_prompts = extra_prompt_paths(data, str(path))
    metrics = data.get("metrics", DEFAULT_METRICS)
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if not isinstance(metrics, (list, tuple)) or not metrics or not all(isinstance(m, str) and m for m in metrics):
        raise SuiteError(f"{path}: metrics must be a list of metric names (or \"wer, sim\"), not {metrics!r}")
    metric_options = data.get("metric_options") or {}
    if not isinstance(metric_options, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in metric_options.items()):
        raise SuiteError(f"{path}: metric_options must map metric names to mappings of options "
                         f"(e.g. {{wer: {{main: macro}}}}), not {metric_options!r}")
    return SuiteSpec(
        name=str(data["name"]),
        version=str(data["version"]),
        description=str(data.get("description", "")).strip(),
        path=path,
        root=_root_for(path, data.get("root")),
        main_metric=str(data.get("main_metric", "wer")),
        default_system=str(data.get("default_system", "tortoise")),
        metrics=tuple(metrics),
        loader=loader,
        options=options,
        prompt_audio=data.get("prompt_audio"),
        prompt_text=data.get("prompt_text"),
        extra_prompt_audio=extra_prompts,
        metric_options={name: dict(opts) for name, opts in metric_options.items()},
    )


def _root_for(path: Path, root: str | None) -> Path:
    """Relative item paths resolve against the spec's folder, or `root:` if given
    (itself relative to the spec's folder; `$EVALKIT_DATA` is expanded)."""
    if not root:
        return path.parent
    expanded = root.replace("$EVALKIT_DATA", str(data_root()))
    return (path.parent / expanded).resolve()


def spec_for_jsonl(path: Path) -> SuiteSpec:
    """A bare JSONL items file used as a suite: named after the file."""
    return SuiteSpec(
        name=path.stem, version="file", description=f"items from {path}", path=path,
        root=path.parent, options={"items": path.name},
    )


def find_spec(name_or_path: str) -> SuiteSpec:
    """Resolve a suite name or a YAML/JSONL path to its spec."""
    path = Path(name_or_path).expanduser()
    if path.suffix in {".yaml", ".yml", ".jsonl"} or os.sep in name_or_path:
        if path.is_dir():
            raise SuiteError(f"{path}: is a directory, not a file")
        if not path.is_file():
            raise SuiteError(f"suite file {path} does not exist")
        return spec_from_file(path)
    suites = builtin_suites()
    if name_or_path in suites:
        return spec_from_yaml(suites[name_or_path])
    plugins = plugin_suites()
    if name_or_path in plugins.entries:
        return spec_from_file(plugin_suite_path(name_or_path, plugins.entries[name_or_path]))
    if name_or_path in plugins.refused:
        raise SuiteError(f"suite {name_or_path!r} cannot be used: {plugins.refused[name_or_path]}")
    known = [*suites, *plugins.entries]
    raise SuiteError(
        f"unknown suite {name_or_path!r} (known: {', '.join(known) or 'none'}; "
        "or give a path to a .yaml spec or .jsonl items file)"
    )


def spec_from_file(path: Path) -> SuiteSpec:
    return spec_for_jsonl(path) if path.suffix == ".jsonl" else spec_from_yaml(path)


def data_root() -> Path:
    """Where downloaded datasets live: `EVALKIT_DATA`, else <user data dir>/evalkit."""
    env = os.environ.get("EVALKIT_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share") / "evalkit"
