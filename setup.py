"""Installs speechbrain_emoinv (``pip install -e .``)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _requirements():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and ln[0] != "#"]


setup(
    name="speechbrain-emoinv",
    version="0.1.0",
    description=(
        "Emotion-invariant speaker embeddings for SpeechBrain: CopyPaste "
        "parallel samples, cosine pair loss (ERL) and emotion-aware masking "
        "(arXiv 2505.18498)"
    ),
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(exclude=["tests", "tests.*"]),
    package_data={"speechbrain_emoinv": ["data/*.txt", "data/*.json"]},
    install_requires=_requirements(),
    entry_points={
        "console_scripts": [
            "emoinv-verify=speechbrain_emoinv.cli.verify:main",
            "emoinv-eval=speechbrain_emoinv.cli.evaluate:main",
            "emoinv-embed=speechbrain_emoinv.cli.embed:main",
            "emoinv-make-corpus=speechbrain_emoinv.cli.make_corpus:main",
        ]
    },
)
