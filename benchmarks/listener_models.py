"""How the default model's listener outputs were made and measured: calibration, the timeline head, styles.

Trains and writes what ships next to the default model (``src/genrelab/pretrained/default``):

- ``calibration`` in ``model.json``: one temperature for the clip model, fitted on its out-of-fold
  (leave-one-artist-out) probabilities; expected calibration error before/after; ``reliability.png``;
- ``timeline/``: the short-window head (musicnn penultimate mean+std over 3 patches, about 9 s, z-score,
  logistic regression, exported as numpy arrays in safetensors) and its own temperature;
- the honest timeline figure: the four-genre mix (first clip by file name of jazz, metal, classical, hiphop,
  as in tests/inference/test_timeline_mix.py) scored by a window head trained WITHOUT those clips' artists.

Per-patch musicnn outputs (penultimate and taggram, one network pass) are cached in .cache/listener-patches.npz.
Takes a few minutes on 2 cores:

    python benchmarks/listener_models.py            # measure only
    python benchmarks/listener_models.py --write    # also write the shipped files
"""

from __future__ import annotations

import collections
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENRELAB_SHARED_DATA", REPO.parent / "shared" / "data"))
CACHE = REPO / ".cache" / "listener-patches.npz"
SHIPPED = REPO / "src" / "genrelab" / "pretrained" / "default"
MIX_GENRES = ("jazz", "metal", "classical", "hiphop")


def patch_outputs():
    """Per GTZAN clip (first 30 s, as the default model's training reads it): id, genre, artist, per-patch
    penultimate (n, 200) and taggram (n, 50)."""
    if CACHE.exists():
        d = np.load(CACHE, allow_pickle=False)
        n = d["n"]
        bounds = np.cumsum([0, *n])
        cut = lambda a: [a[i:j] for i, j in zip(bounds[:-1], bounds[1:])]  # noqa: E731
        return list(d["ids"]), np.array(d["labels"]), np.array(d["artists"]), cut(d["pen"]), cut(d["tag"])
    from genrelab import audio
    from genrelab.datasets.gtzan import load_gtzan
    from genrelab.musicnn.dsp import log_mel, patches
    from genrelab.musicnn.runtime import engine

    eng = engine("MSD_musicnn")
    ids, labels, artists, pen, tag = [], [], [], [], []
    for t in load_gtzan(SHARED / "gtzan"):
        if t.path is None:
            continue
        y, _ = audio.load(t.path, sr=16000)
        y = audio.crop_or_pad(y, 30 * 16000)
        out = eng.run(patches(log_mel(y)), ("penultimate", "taggram"))
        pen.append(out["penultimate"].astype(np.float64)), tag.append(out["taggram"].astype(np.float64))
        ids.append(t.track_id), labels.append(t.label), artists.append(t.artist or t.track_id)
        print(f"  embedded {t.track_id} ({len(ids)})", file=sys.stderr, flush=True)
    CACHE.parent.mkdir(exist_ok=True)
    np.savez(CACHE, ids=np.array(ids), labels=np.array(labels), artists=np.array(artists),
             n=np.array([len(p) for p in pen]), pen=np.concatenate(pen), tag=np.concatenate(tag))
    return ids, np.array(labels), np.array(artists), pen, tag


def lr():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def held_out_artists(labels, artists):
    """The artists of the genres that have several (a held-out artist's genre is still learnt from others)."""
    by = collections.defaultdict(set)
    for g, a in zip(labels, artists):
        by[g].add(a)
    return sorted({a for g, a in zip(labels, artists) if len(by[g]) > 1})


def clip_feature(pen):
    return np.concatenate([pen.mean(0), pen.std(0)])


def window_head_from(model, labels, context):
    """The numpy window head of a fitted StandardScaler + LogisticRegression pipeline."""
    from genrelab.inference.timeline import WindowHead

    sc, m = model[0], model[-1]
    order = [list(m.classes_).index(g) for g in labels]
    return WindowHead(labels=list(labels), coef=m.coef_[order], intercept=m.intercept_[order], mean=sc.mean_,
                      scale=np.where(sc.scale_ > 0, sc.scale_, 1.0), context=context)


def window_data(pen, labels, idx, head):
    X = np.concatenate([head.features(pen[i]) for i in idx])
    y = np.concatenate([[labels[i]] * len(pen[i]) for i in idx])
    return X, y


def calibrate(name, proba, y, classes, groups, out_png=None):
    """Temperature on out-of-fold probabilities: fitted on all of them (shipped) and, to measure it honestly,
    fitted without each artist for that artist's predictions (nested)."""
    from genrelab.evaluation.calibration import apply_temperature, expected_calibration_error, fit_temperature

    t = fit_temperature(proba, y, classes)
    nested = np.zeros_like(proba)
    for a in sorted(set(groups)):
        m = groups == a
        nested[m] = apply_temperature(proba[m], fit_temperature(proba[~m], y[~m], classes))
    e0 = expected_calibration_error(proba, y, classes)
    e1 = expected_calibration_error(nested, y, classes)
    acc = float((np.array(classes)[proba.argmax(1)] == y).mean())
    conf_wrong = proba.max(1)[np.array(classes)[proba.argmax(1)] != y]
    print(f"  {name}: n={len(y)} accuracy {acc:.3f}; temperature {t:.3f}; ECE {e0:.3f} -> {e1:.3f} "
          f"(temperature fitted without the artist); mean confidence of wrong answers "
          f"{conf_wrong.mean() if len(conf_wrong) else float('nan'):.3f} -> "
          f"{nested.max(1)[np.array(classes)[nested.argmax(1)] != y].mean() if len(conf_wrong) else float('nan'):.3f}")
    if out_png is not None:
        from genrelab.evaluation.calibration import reliability_diagram

        reliability_diagram({"before (leave-one-artist-out)": (proba, y), "after temperature scaling": (nested, y)},
                            out_png, classes, title=f"{name}: reliability, leave-one-artist-out")
    return t, {"temperature": round(t, 4), "ece_before": round(e0, 4), "ece_after": round(e1, 4),
               "n_predictions": int(len(y)), "accuracy": round(acc, 4)}


def mix_clips():
    """The mix of tests/inference/test_timeline_mix.py: the first clip by file name of each genre."""
    root = SHARED / "gtzan" / "genres_original"
    return [sorted((root / g).glob(f"{g}.*.wav"))[0] for g in MIX_GENRES]


def score_mix(head, temperature_note=""):
    """Seconds correct and boundary errors of the four-genre mix through the real inference path."""
    from genrelab import audio
    from genrelab.evaluation.segments import timeline_scores
    from genrelab.inference import Classifier

    clf = Classifier.from_pretrained("default")
    clf.window_head = head
    parts = [audio.load(str(p), sr=16000)[0] for p in mix_clips()]
    res = clf.classify_array(np.concatenate(parts), 16000, timeline=True, path="mix")
    ends = np.cumsum([len(p) / 16000 for p in parts])
    sections = [(a, b, g) for a, b, g in zip([0.0, *ends[:-1]], ends, MIX_GENRES)]
    sc = timeline_scores([(e.start, e.end, e.label) for e in res.timeline], sections)
    print(f"  mix {' | '.join(MIX_GENRES)} ({ends[-1]:.1f} s){temperature_note}: seconds correct "
          f"{sc['seconds_correct']:.3f}; boundary errors {', '.join(f'{e:.1f}' for e in sc['boundary_errors'])} s; "
          f"section labels {sc['section_labels']}; headline {res.label} {res.score:.2f}")
    return sc


def main(write: bool) -> None:
    ids, labels, artists, pen, tag = patch_outputs()
    classes = sorted(set(labels))
    test_artists = held_out_artists(labels, artists)
    print(f"leave-one-artist-out over {len(test_artists)} artists of the genres with several artists")
    X = np.stack([clip_feature(p) for p in pen])
    oof, oof_y, oof_g = [], [], []
    win = {c: ([], [], []) for c in (CONTEXT,)}
    for a in test_artists:
        te, tr = np.where(artists == a)[0], np.where(artists != a)[0]
        print(f"  held out {a}", file=sys.stderr, flush=True)
        m = lr().fit(X[tr], labels[tr])
        oof.append(m.predict_proba(X[te])[:, [list(m.classes_).index(g) for g in classes]])
        oof_y += list(labels[te])
        oof_g += [a] * len(te)
        for c, (P, Y, G) in win.items():
            Xtr, ytr = window_data(pen, labels, tr, _probe(c))
            wm = lr().fit(Xtr, ytr)
            Xte, yte = window_data(pen, labels, te, _probe(c))
            P.append(wm.predict_proba(Xte)[:, [list(wm.classes_).index(g) for g in classes]])
            Y += list(yte)
            G += [a] * len(yte)
    print("clip model (the shipped default):")
    t_clip, cal_clip = calibrate("clip model", np.concatenate(oof), np.array(oof_y), classes, np.array(oof_g),
                                 SHIPPED / "reliability.png" if write else None)
    print("window head (one answer per 3-s patch; accuracy per patch):")
    for c, (P, Y, G) in win.items():
        P, Y = np.concatenate(P), np.array(Y)
        print(f"  context {c} ({c * 3} s): patch accuracy {(np.array(classes)[P.argmax(1)] == Y).mean():.3f}")
    context = CONTEXT
    P, Y, G = win[context]
    t_win, cal_win = calibrate(f"window head, context {context}", np.concatenate(P), np.array(Y), classes, np.array(G))

    # the honest timeline figure: a window head that never heard the mix's artists
    mix_ids = [p.stem for p in mix_clips()]
    mix_artists = {artists[ids.index(i)] for i in mix_ids}
    drop = np.array([a in mix_artists for a in artists])
    for g in MIX_GENRES:  # a genre with a single artist here (classical: Bach) would vanish: drop only its clip
        if drop[labels == g].all():
            drop[labels == g] = False
            drop[ids.index(mix_ids[MIX_GENRES.index(g)])] = True
            print(f"  note: every {g} clip here is by one artist; the {g} clip of the mix is held out alone")
    keep = np.where(~drop)[0]
    print(f"timeline of the mix, window head trained without the mix's artists ({len(keep)} of {len(ids)} clips):")
    loao = window_head_from(lr().fit(*window_data(pen, labels, keep, _probe(context))), classes, context)
    loao.temperature = t_win
    sc_loao = score_mix(loao, " [held out]")
    full = window_head_from(lr().fit(*window_data(pen, labels, range(len(ids)), _probe(context))), classes, context)
    full.temperature = t_win
    print("timeline of the mix, the shipped window head (in-sample: it saw these clips):")
    sc_full = score_mix(full, " [in-sample]")
    if write:
        extra = {"trained_on": "the 84 GTZAN clips of ../shared/data/gtzan (benchmarks/listener_models.py)",
                 "calibration": {"method": "temperature", **cal_win, "fitted_on": "leave-one-artist-out window "
                                 "probabilities of the genres with several artists"},
                 "mix_leave_artists_out": sc_loao, "mix_in_sample": sc_full}
        full.save(SHIPPED / "timeline", extra)
        meta_file = SHIPPED / "model.json"
        meta = json.loads(meta_file.read_text())
        meta["calibration"] = {"method": "temperature", **cal_clip, "uncertain_below": 0.5,
                               "fitted_on": "leave-one-artist-out clip probabilities of the genres with several "
                                            "artists (benchmarks/listener_models.py)"}
        meta_file.write_text(json.dumps(meta, indent=2) + "\n")
        print(f"wrote {SHIPPED / 'timeline'}, the calibration in {meta_file} and {SHIPPED / 'reliability.png'}")


#: Patches of context of the shipped window head (3 patches, about 9 s: chosen a priori, not tuned on the mix).
CONTEXT = 3


def _probe(context):
    from genrelab.inference.timeline import WindowHead

    return WindowHead(labels=[], coef=np.zeros((0, 0)), intercept=np.zeros(0), mean=np.zeros(0),
                      scale=np.ones(0), context=context)


if __name__ == "__main__":
    if sys.argv[1:] == ["--cache"]:
        patch_outputs()
    else:
        main("--write" in sys.argv[1:])
