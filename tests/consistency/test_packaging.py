"""Installing the package into an existing environment keeps the user's
packages: pyproject.toml declares compatible ranges, not the exact pins of
requirements.txt.

A fresh venv is made to look like a user's SpeechBrain environment without
downloading anything: this interpreter's site-packages are visible through
a ``.pth`` file (torch, speechbrain, ...), and the venv's own site-packages,
searched first, hold other numpy and matplotlib versions (distribution
metadata only: pip decides from the metadata). ``pip install --no-index``
then has to keep them: replacing them would need the registry and fail.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from recipe_utils import ROOT

USER_VERSIONS = {"numpy": "1.26.4", "matplotlib": "3.8.4"}


def _fake_dist(site, name, version):
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


def _run(cmd, **kwargs):
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, **kwargs
    )


def test_install_keeps_user_numpy_and_matplotlib(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    site = Path(
        _run(
            [
                py,
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ]
        ).stdout.strip()
    )
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    for name, version in USER_VERSIONS.items():
        _fake_dist(site, name, version)
    # Only what a source distribution holds (keeps the checkout clean).
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "speechbrain_emoinv",
        src / "speechbrain_emoinv",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    proc = _run(
        [py, "-m", "pip", "install", "--no-index", "--no-build-isolation",
         "--disable-pip-version-check", str(src)]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    query = (
        "import json, importlib.metadata as m; print(json.dumps({n: "
        "m.version(n) for n in ['numpy', 'matplotlib', 'speechbrain-emoinv']}))"
    )
    versions = json.loads(_run([py, "-c", query]).stdout)
    assert {k: versions[k] for k in USER_VERSIONS} == USER_VERSIONS
    assert versions["speechbrain-emoinv"] == "0.1.0"
    assert (env_dir / "bin" / "emoinv-export").is_file()


def test_pins_stay_in_requirements():
    """Exact pins for install.sh/CI; every runtime range has its pin."""
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = meta["dependencies"] + [
        d
        for k in ("eval", "sim", "export")
        for d in meta["optional-dependencies"][k]
    ]
    assert not [d for d in deps if "==" in d], deps
    pins = {
        ln.split("==")[0].lower()
        for ln in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in ln and not ln.startswith("#")
    }
    names = {d.split(">")[0].split("<")[0].split("=")[0].lower() for d in deps}
    assert names <= pins, names - pins
    assert sys.version_info >= (3, 10)


def test_setup_py_shim_reads_pyproject_metadata():
    """The top-level setup.py (the design card's file) builds from
    pyproject.toml's metadata: its name and version come back through it."""
    proc = _run([sys.executable, "setup.py", "--name", "--version"], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["speechbrain-emoinv", "0.1.0"]
