"""How the shipped default model was chosen: leave-one-artist-out on the real GTZAN clips.

For every artist of a genre that has several artists in ../shared/data/gtzan, a head is trained on all the other
artists' clips and scored on the held-out artist's clips (artists from GTZANindex.txt). Compares:
- musicnn MSD penultimate embeddings, mean (+std) over a clip's 3-s patches, + logistic regression (the default);
  the same head scored with only 3 or 5 patches per clip;
- a head per 3-s segment with the mean of K segment probabilities;
- the 57 Kaggle features + logistic regression (trained on the 84 clips, and on the 691-row table).
Per-patch embeddings are cached in .cache/default-model-loao.npz. Takes a few minutes on 2 cores.

    python benchmarks/default_model_loao.py
"""

from __future__ import annotations

import collections
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENRELAB_SHARED_DATA", REPO.parent / "shared" / "data"))
CACHE = REPO / ".cache" / "default-model-loao.npz"


def embeddings():
    if CACHE.exists():
        d = np.load(CACHE, allow_pickle=True)
        return d["ids"], d["labels"], d["artists"], list(d["emb"]), list(d["seg_emb"])
    from genrelab import audio
    from genrelab.datasets.gtzan import load_gtzan
    from genrelab.musicnn.dsp import log_mel, patches
    from genrelab.musicnn.runtime import engine

    eng = engine("MSD_musicnn")
    ids, labels, artists, emb, seg = [], [], [], [], []
    for t in load_gtzan(SHARED / "gtzan"):
        if t.path is None:
            continue
        y, _ = audio.load(t.path, sr=16000)
        y = audio.crop_or_pad(y, 30 * 16000)  # as training frames a clip (clip_seconds 30)
        emb.append(eng.run(patches(log_mel(y)), ("penultimate",))["penultimate"].astype(np.float64))
        segs = audio.segment(y, 16000, 3.0)
        seg.append(eng.run(np.concatenate([patches(log_mel(s)) for s in segs]), ("penultimate",))["penultimate"]
                   .astype(np.float64))
        ids.append(t.track_id), labels.append(t.label), artists.append(t.artist or t.track_id)
        print(f"  embedded {t.track_id} ({len(ids)})", file=sys.stderr, flush=True)
    CACHE.parent.mkdir(exist_ok=True)
    np.savez(CACHE, ids=np.array(ids), labels=np.array(labels), artists=np.array(artists),
             emb=np.array(emb, dtype=object), seg_emb=np.array(seg, dtype=object))
    return np.array(ids), np.array(labels), np.array(artists), emb, seg


def score(name, yt, yp, out):
    yt, yp = np.asarray(yt), np.asarray(yp)
    acc = float((yt == yp).mean())
    rng = np.random.default_rng(0)
    boots = [(yt[s] == yp[s]).mean() for s in (rng.integers(0, len(yt), len(yt)) for _ in range(2000))]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    print(f"  {name:<62} {acc:.3f}  [{lo:.3f}, {hi:.3f}]  n={len(yt)}")
    out[name] = (yt, yp)


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ids, labels, artists, emb, seg = embeddings()
    by = collections.defaultdict(set)
    for g, a in zip(labels, artists):
        by[g].add(a)
    test_artists = sorted({a for g, a in zip(labels, artists) if len(by[g]) > 1})
    print(f"leave-one-artist-out: {len(test_artists)} held-out artists of the genres "
          f"{sorted(g for g in by if len(by[g]) > 1)}; accuracy [95% bootstrap CI]")

    def lr():
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))

    def spread(n, k):
        return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))

    def feat(e, pool):
        return np.concatenate([{"mean": e.mean(0), "std": e.std(0)}[p] for p in pool])

    preds = collections.defaultdict(dict)
    for a in test_artists:
        te, tr = np.where(artists == a)[0], np.where(artists != a)[0]
        for pool in (("mean",), ("mean", "std")):
            X = np.stack([feat(e, pool) for e in emb])
            m = lr().fit(X[tr], labels[tr])
            name = "musicnn penultimate " + "+".join(pool) + " + logreg"
            for i in te:
                preds[name][i] = m.predict(X[i:i + 1])[0]
                for k in (3, 5):
                    preds[f"{name}, {k} patches at test"][i] = m.predict(feat(emb[i][spread(len(emb[i]), k)], pool)[None])[0]
        m = lr().fit(np.concatenate([seg[i] for i in tr]), np.concatenate([[labels[i]] * len(seg[i]) for i in tr]))
        for i in te:
            p = m.predict_proba(seg[i])
            for k in (1, 3, 5, 10):
                preds[f"musicnn segment head, mean prob of {k} segments"][i] = m.classes_[p[spread(len(p), k)].mean(0).argmax()]
    out: dict = {}
    for name, p in preds.items():
        idx = sorted(p)
        score(name, labels[idx], [p[i] for i in idx], out)
    _kaggle(ids, labels, artists, test_artists, lr, out)
    yt, yp = out["musicnn penultimate mean+std + logreg"]
    conf = collections.Counter((t, q) for t, q in zip(yt, yp) if t != q)
    print("  confusions of the default (true -> predicted):",
          ", ".join(f"{t}->{q} {n}" for (t, q), n in conf.most_common()))


def _kaggle(ids, labels, artists, test_artists, lr, out) -> None:
    import pandas as pd

    table = SHARED / "gtzan" / "features_30_sec.csv"
    if not table.exists():
        return
    df = pd.read_csv(table)
    index = {}
    for line in open(SHARED / "gtzan" / "GTZANindex.txt", errors="replace"):
        if ":::" in line:
            f, a, *_ = [x.strip() for x in line.split(":::")]
            index[f] = a
    df["artist"] = [index.get(f) or f for f in df.filename]
    cols = [c for c in df.columns if c not in ("filename", "length", "label", "artist")]
    ours = df[df.filename.isin([i + ".wav" for i in ids])].reset_index(drop=True)
    for name, train in (("57 Kaggle features + logreg, trained on the 84 clips", ours),
                        ("57 Kaggle features + logreg, trained on the 691-row table", df)):
        yt, yp = [], []
        for a in test_artists:
            te = ours.artist.values == a
            tr = train.artist.values != a
            m = lr().fit(train[cols].values[tr], train.label.values[tr])
            yt += list(ours.label.values[te])
            yp += list(m.predict(ours[cols].values[te]))
        score(name, yt, yp, out)


if __name__ == "__main__":
    main()
