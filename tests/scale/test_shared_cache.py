"""The feature cache shared by several processes (or nodes on a network file system): two processes computing and
writing the same entries at the same time never leave a torn or corrupt entry, and a node never deletes another
node's in-flight temporary file."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time

import numpy as np
import pytest

from genrelab.features import cache as cache_mod
from genrelab.features.cache import FeatureCache
from genrelab.features.presets import parse_spec
from genrelab.types import Track

ROUNDS = 25


def _worker(root: str, clips: list[str], start, out) -> None:
    """Compute every clip's entry (as a node filling the cache would), then rewrite and re-read them repeatedly."""
    spec = parse_spec("mfcc13")
    cache = FeatureCache(root)
    tracks = [Track(track_id=os.path.basename(c), path=c, label=None) for c in clips]
    start.wait(timeout=60)
    problems = []
    arrays = {t.track_id: cache.get_or_compute(t, spec) for t in tracks}
    for i in range(ROUNDS):
        for t in tracks:
            cache.put(t.track_id, spec, arrays[t.track_id])  # the same entry, written again while the other reads
            got = cache.get(t.track_id, spec)
            if got is None or not np.array_equal(got, arrays[t.track_id]):
                problems.append(f"round {i}: {t.track_id} read back {'nothing' if got is None else 'other data'}")
    out.put((os.getpid(), problems, {k: v.tobytes() for k, v in arrays.items()}))


@pytest.mark.slow
@pytest.mark.integration
def test_two_processes_writing_the_same_entries(tmp_path, gtzan_root):
    clips = [str(gtzan_root / "genres_original" / g / f"{g}.00002.wav") for g in ("jazz", "rock")]
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), clips, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for _pid, problems, _ in results:
        assert problems == []
    assert results[0][2] == results[1][2]  # both computed the same numbers
    spec = parse_spec("mfcc13")
    cache = FeatureCache(tmp_path)
    d = cache.directory(spec)
    assert [p.name for p in cache.entries(spec)] == ["jazz.00002.wav.npy", "rock.00002.wav.npy"]
    assert not list(d.glob("*.tmp-*")), "temporary files left behind"
    for c in clips:
        name = os.path.basename(c)
        assert cache.valid(cache.path(name, spec), verify=True) is None
        np.testing.assert_array_equal(cache.get(name, spec), np.frombuffer(results[0][2][name], dtype=np.float32)
                                      .reshape(cache.get(name, spec).shape))
    # the index holds one parsable line per write: 2 processes x 2 clips x ROUNDS rewrites, plus the first
    # computation of each clip by each process (2 to 4: a process finds the entry the other already wrote)
    lines = (d / "index.jsonl").read_text().splitlines()
    assert 2 * 2 * ROUNDS + 2 <= len(lines) <= 2 * 2 * (ROUNDS + 1)
    assert all(json.loads(line)["key"] in ("jazz.00002.wav", "rock.00002.wav") for line in lines)


def test_clean_temporary_respects_other_nodes(tmp_path):
    spec = parse_spec("mfcc13")
    cache = FeatureCache(tmp_path)
    d = cache.directory(spec)
    here = cache_mod._host()
    dead = 2 ** 22 + 12345  # no such process here
    own_dead = d / f"a.tmp-{dead}-{here}-1.npy"
    other_fresh = d / f"b.tmp-{dead}-another-node-7-2.npy"
    other_stale = d / f"c.tmp-{dead}-another-node-7-3.npy"
    old_format = d / f"d.tmp-{dead}-4.npy"
    for p in (own_dead, other_fresh, other_stale, old_format):
        p.write_bytes(b"partial")
    old = time.time() - 2 * cache_mod._FOREIGN_TMP_AGE_S
    os.utime(other_stale, (old, old))
    assert cache.clean_temporary(spec) == 3
    assert other_fresh.exists() and not own_dead.exists() and not other_stale.exists() and not old_format.exists()
    # this machine's temporary names carry the host, so other nodes can tell them apart
    assert f"-{here}-" in cache_mod._tmp_name(d / "x.npy")
