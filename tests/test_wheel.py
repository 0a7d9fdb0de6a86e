"""The wheel, installed the ordinary (non-editable) way, works away from the repository:
its packaged suites and baselines are found through importlib.resources.

The wheel is built once per test session from a copy of the working tree. It goes into a
fresh virtual environment that sees the test environment's packages through a .pth file
(so torch and the scorers are not installed again) but not the repository or its
editable install; a smoke run of the ground truth, from a folder outside the repository,
is then gated against the baseline packaged in the wheel.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("evalkit", "suites", "baselines", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """evalkit's wheel, built (python -m build) from a copy of the working tree."""
    src = tmp_path_factory.mktemp("wheel-src")
    for name in SOURCES:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path_factory.mktemp("dist")
    res = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (built,) = dist.glob("evalkit-*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (no dependencies: those come from the test
    environment's site-packages, added by a .pth file); returns its bin/ folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Only the packages: a .pth-added folder's own .pth files (the editable install's) are not read.
    Path(purelib, "test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=300)
    return venv / "bin"


def run_installed(bin_dir: Path, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EVALKIT_SUITES", "EVALKIT_BASELINES")}
    res = subprocess.run([str(bin_dir / "evalkit"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=900)
    if check and res.returncode != 0:
        raise AssertionError(f"evalkit {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def test_the_wheel_carries_every_package_file_suite_and_baseline(wheel):
    listed = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "evalkit", "suites", "baselines"],
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = [f for f in listed.stdout.split() if (REPO_ROOT / f).is_file()]
    expected = {f if f.startswith("evalkit/") else f"evalkit/_packaged/{f}" for f in tracked}
    assert expected - names == set()


def test_installed_wheel_runs_and_gates_the_smoke_suite_outside_the_repository(installed, tmp_path):
    where = subprocess.run([str(installed / "python"), "-c", "import evalkit, evalkit.packaged as p; "
                            "print(evalkit.__file__); print(p.builtin_dir('suites'))"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert not Path(where[0]).is_relative_to(REPO_ROOT) and "site-packages" in where[0]
    assert where[1].endswith("evalkit/_packaged/suites")

    suites = {s["name"]: s for s in json.loads(run_installed(installed, tmp_path, "suites", "list", "--json").stdout)}
    assert Path(suites["smoke"]["path"]) == Path(where[1]) / "smoke.yaml"

    out = tmp_path / "runs" / "gt"
    run_installed(installed, tmp_path, "run", "--suite", "smoke", "--system", "ground-truth", "--out", str(out), "-q")
    info = json.loads((out / "run.json").read_text())
    assert info["suite"]["n_items"] == 10 and info["git"] == {"sha": None, "dirty": None}  # not a checkout
    gate = run_installed(installed, tmp_path, "gate", "--candidate", str(out), check=False)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "PASS" in gate.stdout and "_packaged/baselines/smoke/policy.yaml" in gate.stdout

    # The packaged baselines are read-only: saving one needs a folder.
    refused = run_installed(installed, tmp_path, "baseline", "save", str(out), "--name", "mine", check=False)
    assert refused.returncode == 2 and "read-only" in refused.stderr
    saved = run_installed(installed, tmp_path, "baseline", "save", str(out), "--name", "mine", "--dir", "bl")
    assert (tmp_path / "bl" / "smoke" / "mine.json").is_file(), saved.stdout


def test_a_checkout_reads_and_writes_its_own_folders(monkeypatch):
    from evalkit import baseline, packaged

    monkeypatch.delenv("EVALKIT_BASELINES", raising=False)
    assert packaged.checkout_root() == REPO_ROOT
    assert packaged.builtin_dir("suites") == REPO_ROOT / "suites"
    assert baseline.baselines_root() == REPO_ROOT / "baselines"  # where `baseline save` writes
    assert not packaged.is_packaged(REPO_ROOT / "baselines" / "smoke" / "espeak.json")
