"""Feature cache: keyed by spec hash, atomic entries, resumable after a killed run, failures reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrelab.features import cache as cache_mod
from genrelab.features.cache import FeatureCache, track_key
from genrelab.features.config import InputSpec
from genrelab.features.spectral import MFCC, MelSpectrogram
from genrelab.types import Track
from processes import state

REPO = Path(__file__).resolve().parents[2]


def _clips(folder: Path, n: int, seconds: float = 2.0) -> list[Track]:
    folder.mkdir(parents=True, exist_ok=True)
    tracks = []
    for i in range(n):
        y = (0.1 * np.random.default_rng(i).standard_normal(int(seconds * 22050))).astype(np.float32)
        p = folder / f"clip{i:03d}.wav"
        sf.write(str(p), y, 22050, subtype="PCM_16")
        tracks.append(Track(track_id=f"clip{i:03d}", path=p, label="x"))
    return tracks


def test_compute_all_resume_and_failures(tmp_path):
    tracks = _clips(tmp_path / "audio", 4)
    bad = tmp_path / "audio" / "bad.wav"
    bad.write_text("not audio at all")
    tracks.append(Track(track_id="bad", path=bad, label="x"))
    spec = InputSpec(feature=MFCC(n_mfcc=13), clip_seconds=2.0)
    c = FeatureCache(tmp_path / "cache")
    rep = c.compute_all(tracks, spec, workers=2, progress=False)
    assert (rep.total, rep.computed, rep.cached, rep.failed) == (5, 4, 0, 1)
    assert rep.errors[0][0] == "bad" and "not-audio" in rep.errors[0][1]
    d = tmp_path / "cache" / spec.hash()
    assert json.loads((d / "spec.json").read_text()) == spec.to_dict()
    arr = c.get("clip001", spec)
    assert arr.shape == (1, 13, 1 + 44100 // 512) and arr.dtype == np.float32
    rep2 = c.compute_all(tracks, spec, workers=1, progress=False)
    assert (rep2.computed, rep2.cached, rep2.failed) == (0, 4, 1)
    # another parameter -> another directory, nothing reused
    other = InputSpec(feature=MFCC(n_mfcc=20), clip_seconds=2.0)
    assert c.directory(other) != d
    assert c.compute_all(tracks[:1], other, progress=False).computed == 1


def test_get_or_compute_computes_once(tmp_path, monkeypatch):
    (track,) = _clips(tmp_path / "a", 1)
    spec = InputSpec(feature=MelSpectrogram(n_mels=32))
    calls = []
    real = cache_mod.compute_track
    monkeypatch.setattr(cache_mod, "compute_track", lambda t, s: calls.append(t.track_id) or real(t, s))
    c = FeatureCache(tmp_path / "c")
    a = c.get_or_compute(track, spec)
    b = c.get_or_compute(track, spec)
    np.testing.assert_array_equal(a, b)
    assert calls == ["clip000"]
    assert c.get_or_compute(track.path, spec.feature).shape == a.shape  # a path and a bare config work too


def test_augmented_variants_are_cached_separately(tmp_path):
    from genrelab.features.augment import expand_training_set

    tracks = expand_training_set(_clips(tmp_path / "a", 1, seconds=1.0), pitch_steps=(), tempo_rates=(0.5,))
    spec = InputSpec(feature=MelSpectrogram(n_mels=16))
    c = FeatureCache(tmp_path / "c")
    assert c.compute_all(tracks, spec, progress=False).computed == 2
    orig, slow = c.get(tracks[0].track_id, spec), c.get(tracks[1].track_id, spec)
    assert slow.shape[-1] > 1.8 * orig.shape[-1]  # half tempo: twice the frames


def test_track_keys_are_safe_and_distinct():
    assert track_key("blues.00000") == "blues.00000"
    keys = {track_key(k) for k in ("a/b", "a_b", "a:b", "../x", "x")}
    assert len(keys) == 5 and all("/" not in k for k in keys)


_RUNNER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from genrelab.features.cache import FeatureCache
    from genrelab.features.config import InputSpec
    from genrelab.features.gtzan57 import GTZAN57
    from genrelab.types import Track
    folder, root = Path(sys.argv[1]), sys.argv[2]
    tracks = [Track(track_id=p.stem, path=p, label=None) for p in sorted(folder.glob("*.wav"))]
    FeatureCache(root).compute_all(tracks, InputSpec(feature=GTZAN57()), workers=2, progress=False)
""")


@pytest.mark.slow
def test_killed_run_leaves_no_partial_entries_and_resumes(tmp_path):
    n = 24
    tracks = _clips(tmp_path / "audio", n, seconds=5.0)
    spec = InputSpec(feature=__import__("genrelab.features.gtzan57", fromlist=["GTZAN57"]).GTZAN57())
    root = tmp_path / "cache"
    script = tmp_path / "run.py"
    script.write_text(_RUNNER)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "audio"), str(root)], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    d = root / spec.hash()
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            done = [p for p in d.glob("*.npy") if ".tmp-" not in p.name] if d.exists() else []
            if len(done) >= 3 or proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its worker processes, mid-write or not
        proc.wait()
    c = FeatureCache(root)
    entries = c.entries(spec)
    assert 3 <= len(entries) < n, "the run should have been killed part way"
    for p in entries:  # every visible entry is complete
        assert np.load(p).shape == (1, 57)
    before = {p.name: p.stat().st_mtime_ns for p in entries}
    rep = c.compute_all(tracks, spec, workers=2, progress=False)
    assert rep.cached == len(before) and rep.computed == n - len(before) and rep.failed == 0
    after = {p.name: p.stat().st_mtime_ns for p in c.entries(spec)}
    assert len(after) == n
    assert all(after[k] == v for k, v in before.items())  # finished tracks were not recomputed
    assert not [p for p in d.iterdir() if ".tmp-" in p.name]  # leftovers of the killed writers are cleaned


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "zero-bytes":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zeroed":  # same size, every byte zero (header included)
        path.write_bytes(bytes(len(data)))
    elif how == "zeroed-data":  # header intact, array bytes zeroed: only the checksum can tell
        path.write_bytes(data[:128] + bytes(len(data) - 128))
    else:
        raise ValueError(how)


def test_broken_entries_are_recomputed_not_trusted(tmp_path):
    """Issue 10 item 14: zero-byte, truncated or zeroed entries used to count as already cached."""
    tracks = _clips(tmp_path / "audio", 5, seconds=1.0)
    spec = InputSpec(feature=MelSpectrogram(n_mels=16))
    c = FeatureCache(tmp_path / "cache")
    assert c.compute_all(tracks, spec, progress=False).computed == 5
    good = {t.track_id: c.get(t.track_id, spec) for t in tracks}
    kinds = ["zero-bytes", "truncated", "zeroed", "zeroed-data"]
    for t, how in zip(tracks, kinds):
        _damage(c.path(t.track_id, spec), how)
    c2 = FeatureCache(tmp_path / "cache")  # a new process: nothing remembered
    for t, how in zip(tracks, kinds):
        assert c2.get(t.track_id, spec) is None, how  # a read never returns a broken entry
    assert not c2.has(tracks[0].track_id, spec) and not c2.has(tracks[1].track_id, spec)
    rep = c2.compute_all(tracks, spec, progress=False)  # cheap check: header + size + index size
    assert (rep.computed, rep.repaired, rep.cached, rep.failed) == (3, 3, 2, 0)
    assert "3 broken entries recomputed" in rep.summary()
    rep = c2.compute_all(tracks, spec, progress=False, verify=True)  # full check: checksums
    assert (rep.computed, rep.repaired, rep.cached) == (1, 1, 4)
    for t in tracks:
        np.testing.assert_array_equal(c2.get(t.track_id, spec), good[t.track_id])
    # get_or_compute repairs too
    _damage(c2.path(tracks[4].track_id, spec), "zeroed-data")
    np.testing.assert_array_equal(FeatureCache(tmp_path / "cache").get_or_compute(tracks[4], spec), good["clip004"])


def test_entries_without_index_are_checked_by_header(tmp_path):
    """A cache written before the index existed: header + size still catch truncation."""
    tracks = _clips(tmp_path / "audio", 2, seconds=1.0)
    spec = InputSpec(feature=MelSpectrogram(n_mels=16))
    c = FeatureCache(tmp_path / "cache")
    c.compute_all(tracks, spec, progress=False)
    (c.directory(spec) / "index.jsonl").unlink()
    _damage(c.path("clip000", spec), "truncated")
    c2 = FeatureCache(tmp_path / "cache")
    assert c2.get("clip000", spec) is None and c2.get("clip001", spec) is not None
    rep = c2.compute_all(tracks, spec, progress=False)
    assert (rep.computed, rep.repaired, rep.cached) == (1, 1, 1)
    # a cut-short last index line (killed mid-append) is ignored
    with open(c.directory(spec) / "index.jsonl", "a") as f:
        f.write('{"key": "clip001", "by')
    assert FeatureCache(tmp_path / "cache").get("clip001", spec) is not None


def test_pipeline_batches_across_tracks_with_the_same_results(tmp_path):
    """Tracks computed together (one feature call per batch) equal tracks computed one by one."""
    from genrelab.features import pipeline
    from genrelab.features.presets import preset

    tracks = _clips(tmp_path / "audio", 3, seconds=3.5)
    ys = [pipeline.decode(t, preset("mel-3s")) for t in tracks]
    for name in ("mel-3s", "mfcc13", "liu-image"):
        spec = preset(name)
        together = pipeline.examples_many(spec, ys)
        for y, got in zip(ys, together):
            np.testing.assert_allclose(got, spec.examples(y), atol=1e-4)
    # a chunk with a broken track in the middle: the others are stored, stage CPU times are reported
    bad = tmp_path / "audio" / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    items = [(t.track_id, str(t.path), None) for t in tracks]
    items.insert(1, ("bad", str(bad), None))
    rows, times = pipeline.process_chunk(str(tmp_path / "cache"), preset("mel").to_dict(), items, batch=2,
                                         cache_cls=FeatureCache)
    assert [r[0] for r in rows] == ["clip000", "bad", "clip001", "clip002"]
    assert [r[1] is None for r in rows] == [True, False, True, True]
    assert set(times) == set(pipeline.STAGES) and times["compute"] > 0
    c = FeatureCache(tmp_path / "cache")
    np.testing.assert_array_equal(c.get("clip002", preset("mel")), preset("mel").examples(ys[2]))


def _blas_in_worker():
    """In a worker: BLAS thread counts, and CPU seconds spent by the worker's other threads while it makes an
    MFCC's DCT product a few times and then idles 0.3 s (spinning OpenBLAS threads burn ~0.1 s each)."""
    import os
    import threading
    import time

    import numpy as np
    from threadpoolctl import threadpool_info

    def others() -> float:
        me, total = str(threading.get_native_id()), 0
        for t in os.listdir("/proc/self/task"):
            if t != me:
                fields = open(f"/proc/self/task/{t}/stat").read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    before = others()
    a = np.ones((13, 128), dtype=np.float32)
    b = np.ones((128, 1292), dtype=np.float32)
    for _ in range(3):
        a @ b  # OpenBLAS would split this product over its threads
    time.sleep(0.3)
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"], others() - before


def test_workers_run_blas_on_one_thread_without_starting_its_threads():
    """The BLAS limit is set in the parent while the pool lives (forked workers inherit it): in a worker BLAS
    reports one thread and no OpenBLAS thread was started (set in the worker, it starts them, and each new one
    busy-waits ~0.1 s of CPU); the parent's own limit is restored afterwards."""
    from threadpoolctl import threadpool_info

    from genrelab.features.workers import mp_context, worker_pool

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("needs /proc (Linux)")
    with worker_pool(1) as ex:
        blas, spun = ex.submit(_blas_in_worker).result()
    assert blas and set(blas) == {1}
    if mp_context().get_start_method() == "fork":
        assert spun < 0.05, f"the worker's other threads burnt {spun:.2f} s of CPU"
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before


def test_a_zombie_writer_counts_as_gone(tmp_path):
    """A temporary file whose writer was killed but not reaped (a zombie: containers whose first process does
    not reap orphans keep them) is cleaned like one whose writer is gone."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs /proc (Linux)")
    from genrelab.features.cache import _pid_alive

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _pid_alive(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline and state(proc.pid) != "Z":
            time.sleep(0.01)
        assert not _pid_alive(proc.pid)  # killed, not yet waited for: a zombie
        spec = InputSpec(feature=MelSpectrogram())
        c = FeatureCache(tmp_path / "cache")
        d = c.directory(spec)
        d.mkdir(parents=True, exist_ok=True)
        from genrelab.features.cache import _host

        left = d / f"clip.tmp-{proc.pid}-{_host()}-123.npy"
        left.write_bytes(b"partial")
        assert c.clean_temporary(spec) == 1 and not left.exists()
    finally:
        proc.kill()
        proc.wait()
    assert not _pid_alive(proc.pid)
