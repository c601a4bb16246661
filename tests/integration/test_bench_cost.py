"""benchmarks/bench_cost.py --part embedding: the rounds, the real-time
factors, resuming, the table. The exports are replaced by stand-ins that
advance a fake clock by a known time per second of audio (the real ones
are timed by the benchmark itself; parity and int8 are tested in
test_export_formats.py and test_backends.py)."""

import argparse

import pytest
from toy import make_toy_model

from benchmarks import bench_cost

# Seconds of wall time per second of audio of each stand-in backend.
RTF = {"pytorch": 0.02, "torchscript": 0.015, "onnx": 0.005, "onnx_int8": 0.03}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    folders = {
        name: (make_toy_model(tmp_path / name, seed=i), "random weights")
        for i, name in enumerate(("default", "c512", "c1024"))
    }
    monkeypatch.setattr(
        bench_cost, "embedding_models", lambda model_dir, work: folders
    )
    calls, clock = [], [0.0]
    monkeypatch.setattr(bench_cost.time, "perf_counter", lambda: clock[0])

    def paths(folder, work, batch, threads):
        def timed(backend):
            def run(wavs):
                calls.append(backend)
                clock[0] += RTF[backend] * wavs.size / 16000

            return {"b1": run, "batched": run}

        return {b: timed(b) for b in RTF}, {"n_parameters": 1}

    monkeypatch.setattr(bench_cost, "embedding_paths", paths)
    return tmp_path, calls


def _args(tmp_path, rounds):
    return argparse.Namespace(
        model_dir="unused",
        threads=1,
        rounds=rounds,
        batch=2,
        seconds=[0.5, 1.0],
        out=str(tmp_path / "emb.json"),
        work=str(tmp_path / "work"),
    )


def test_rounds_rtf_resume_and_table(fake):
    tmp_path, calls = fake
    state = bench_cost.embedding_rtf(_args(tmp_path, 1))
    n_cells = 3 * 4 * 2 * 2  # models x backends x modes x durations
    assert len(calls) == 2 * n_cells  # a warm-up and a timed block each
    # Resumed with more rounds: only the missing round is timed.
    calls.clear()
    state = bench_cost.embedding_rtf(_args(tmp_path, 2))
    assert len(calls) == 2 * n_cells and state["rounds_done"] == 2
    assert all(len(b) == 2 for b in state["blocks"].values())
    calls.clear()
    bench_cost.embedding_rtf(_args(tmp_path, 2))  # finished: nothing run
    assert calls == []

    summary = bench_cost.embedding_summary(state)
    for key, cell in summary["cells"].items():
        backend = key.split("/")[1]
        # wall / (utterances x seconds)
        assert cell["rtf_min"] == cell["rtf_median"] == RTF[backend]
    assert set(summary["fastest"].values()) == {"onnx"}
    assert summary["goal_met"]
    emb = bench_cost._load_json(tmp_path / "emb.json")
    table = bench_cost.render_embedding(emb)
    assert "| C = 512 | 1 s |" in table and "goal RTF <= 0.01 met" in table
