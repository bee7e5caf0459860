"""Classic baselines on feature vectors (scikit-learn), behind the same registry and checkpoints.

Tzanetakis & Cook, "Musical genre classification of audio signals" (IEEE TSAP 2002) established the
set-up these reproduce: a fixed vector of timbral, rhythmic and pitch statistics per clip, fed to
standard classifiers (they used Gaussian mixtures and k-nearest neighbours). Here the vector is
the 57 Kaggle GTZAN features of the whole 30 s clip (:data:`genrelab.features.gtzan57.GTZAN57_COLUMNS`),
so a model trained on ``features_30_sec.csv`` can classify audio files.

Building one (``registry.build("svm-rbf", n_classes=10)``) returns an unfitted scikit-learn
:class:`~sklearn.pipeline.Pipeline`; ``n_classes`` is accepted for a uniform interface and the
classes are learnt from the labels in ``fit``. Every pipeline has ``predict_proba``. Checkpoints
store them with skops (no pickle): :func:`genrelab.checkpoint.save` / :func:`~genrelab.checkpoint.load`.
The scale-sensitive models standardise inside the pipeline; input ``(n_examples, 57)``, output of
``predict_proba`` ``(n_examples, n_classes)``.
"""

from __future__ import annotations

from typing import Any

from genrelab.models.qin import gtzan57_clip_contract
from genrelab.models.registry import InputContract, register


class SklearnBaseline:
    """Base of the scikit-learn baselines: calling the class returns a fresh, unfitted Pipeline."""

    def __new__(cls, n_classes: int | None = None, **params: Any):  # noqa: D102 - returns a Pipeline
        return cls.make(**params)

    @classmethod
    def make(cls, **params: Any):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def input_contract(cls) -> InputContract:
        return gtzan57_clip_contract()


@register("svm-rbf", family="classic", kind="sklearn", tags=("gtzan", "features"))
class SVMRBF(SklearnBaseline):
    """Support-vector machine with an RBF kernel on standardised GTZAN-57 features.

    ``StandardScaler -> CalibratedClassifierCV(SVC(kernel="rbf", C=10, gamma="scale"), method="sigmoid",
    ensemble=False)``: Platt-scaled probabilities from 5-fold cross-validated decision values, the same
    as the deprecated ``SVC(probability=True)``, on one SVC fitted to all the data.
    """

    @classmethod
    def make(cls, C: float = 10.0, gamma: str | float = "scale", cv: int = 5):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        svc = CalibratedClassifierCV(SVC(kernel="rbf", C=C, gamma=gamma), method="sigmoid", cv=cv, ensemble=False)
        return Pipeline([("scale", StandardScaler()), ("svm", svc)])


@register("logreg", family="classic", kind="sklearn", tags=("gtzan", "features"))
class LogReg(SklearnBaseline):
    """Multinomial logistic regression on standardised GTZAN-57 features (``StandardScaler -> LogisticRegression``)."""

    @classmethod
    def make(cls, C: float = 1.0, max_iter: int = 2000):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        return Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(C=C, max_iter=max_iter))])


@register("random-forest", family="classic", kind="sklearn", tags=("gtzan", "features"))
class RandomForest(SklearnBaseline):
    """Random forest on GTZAN-57 features (no scaling needed): ``RandomForestClassifier(300 trees)``."""

    @classmethod
    def make(cls, n_estimators: int = 300, max_depth: int | None = None, random_state: int = 0, n_jobs: int | None = None):
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.pipeline import Pipeline

        rf = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=random_state,
                                    n_jobs=n_jobs)
        return Pipeline([("forest", rf)])


@register("knn", family="classic", kind="sklearn", tags=("gtzan", "features"))
class KNN(SklearnBaseline):
    """k-nearest neighbours (Tzanetakis & Cook's baseline) on standardised GTZAN-57 features.

    ``StandardScaler -> KNeighborsClassifier(n_neighbors=5, weights="distance")``.
    """

    @classmethod
    def make(cls, n_neighbors: int = 5, weights: str = "distance"):
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        return Pipeline([("scale", StandardScaler()), ("knn", KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights))])


__all__ = ["SklearnBaseline", "SVMRBF", "LogReg", "RandomForest", "KNN"]
