"""Hoang's FMA-medium baselines (16 top genres): Bian et al.'s 1-D CNN and Feng et al.'s BiGRU.

Hoang compares published architectures on FMA-medium. Two of them (and the study's CNN -> SVM) are implemented here:

- ``bian-cnn1d`` - a 1-D CNN after Bian et al. that treats the 128 mel bins of a 128-frame
  spectrogram as channels and convolves along time.
- ``feng-bigru`` - the recurrent branch of Feng, Liu & Yao, "Music Genre Classification with
  Paralleling Recurrent Convolutional Neural Network" (arXiv:1712.08370, 2017): max pooling and a
  linear embedding shrink each STFT frame, a bidirectional GRU reads the frames.

- ``bian-cnn1d-svm`` - the same CNN ending in an SVM, as in the study: the trained CNN's penultimate
  (1024-d) features go to a linear SVM (scikit-learn ``LinearSVC``), fitted after the CNN
  (:mod:`genrelab.training.stacked`); the fitted SVM is folded into the network's last layer.

Both take one ~3 s excerpt (128 frames of hop 512 at 22,050 Hz = 65,024 samples); a clip is
classified by aggregating its excerpts. ``n_classes`` is a parameter (16 for FMA-medium).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from genrelab.models.layers import bidirectional_final
from genrelab.models.registry import InputContract, register

#: 128 centred frames of hop 512: ``1 + 65024 // 512 = 128``.
EXCERPT_SAMPLES = 127 * 512


@register("bian-cnn1d", family="hoang", tags=("fma", "mel"))
class BianCNN1D(nn.Module):
    """Bian et al.'s 1-D CNN as used by Hoang: 128 x 128 mel spectrogram, frequency bins as channels.

    Five blocks ``Conv1d(kernel 4, 'same' padding) -> BatchNorm -> ReLU -> MaxPool`` with pool sizes
    4, 4, 4, 2, 1 along time, each applied only as far as the remaining length allows (a pool
    never exceeds the length left; 128 frames -> 32 -> 8 -> 2 -> 1 -> 1), then flatten ->
    Dense 1024 ReLU -> n_classes.

    Input ``(batch, n_mels=128, n_frames=128)``; output logits ``(batch, n_classes)``.
    The study does not state the filter counts; ``channels`` defaults to 256 per layer.
    """

    def __init__(self, n_classes: int = 16, n_mels: int = 128, n_frames: int = 128,
                 channels: tuple[int, ...] = (256, 256, 256, 256, 256), pools: tuple[int, ...] = (4, 4, 4, 2, 1),
                 kernel: int = 4, dense: int = 1024, dropout: float = 0.0):
        super().__init__()
        if len(channels) != len(pools):
            raise ValueError("channels and pools must have the same length")
        layers: list[nn.Module] = []
        cin, length = n_mels, n_frames
        for cout, pool in zip(channels, pools):
            p = min(pool, length)
            # 'same' padding as Keras/TensorFlow: the odd pixel goes at the end (kernel 4: 1 before, 2 after)
            layers += [nn.ConstantPad1d(((kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2), 0.0),
                       nn.Conv1d(cin, cout, kernel), nn.BatchNorm1d(cout), nn.ReLU()]
            if p > 1:
                layers.append(nn.MaxPool1d(p))
                length //= p
            cin = cout
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(cin * length, dense), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dense, n_classes)
        )
        self.n_mels, self.n_frames = n_mels, n_frames

    @classmethod
    def input_contract(cls, n_mels: int = 128, n_frames: int = 128) -> InputContract:
        from genrelab.features.config import InputSpec
        from genrelab.features.spectral import MelSpectrogram

        feat = MelSpectrogram(sample_rate=22050, n_fft=2048, hop_length=512, n_mels=n_mels)
        spec = InputSpec(feature=feat, clip_seconds=30.0, segment_samples=(n_frames - 1) * 512)
        return InputContract(spec, (n_mels, n_frames))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


@register("bian-cnn1d-svm", family="hoang", tags=("fma", "mel"))
class BianCNNSVM(BianCNN1D):
    """Bian et al.'s 1-D CNN ending in an SVM, as Hoang uses it: the CNN's penultimate 1024-d features
    -> linear SVM (scikit-learn ``LinearSVC``, one-vs-rest, on standardised features) -> n_classes.

    Not trained by gradient descent: :func:`genrelab.training.stacked.train_cnn_svm` copies a trained
    ``bian-cnn1d`` checkpoint (``cnn``: its run or checkpoint folder; relative paths are read from this
    run's folder, so ``../cnn1d`` is the CNN of the same recipe split) and fits the SVM on its features;
    the scaler and the SVM's ``coef_``/``intercept_`` are folded into the last linear layer, so the
    network outputs the SVM's decision values. Input ``(batch, 128, 128)`` (mels x frames, as
    ``bian-cnn1d``); output ``(batch, n_classes)`` decision values (softmax gives ranking scores, not
    calibrated probabilities). ``C`` is the SVM's regularisation (``sklearn.param_grid`` selects it on the
    validation part); ``cnn_args`` are the CNN's own arguments.
    """

    fit_stage = "cnn-svm"  # training.trainer fits this model with training.stacked, not with SGD

    def __init__(self, n_classes: int = 16, cnn: str = "", C: float = 1.0, cnn_args: dict | None = None):
        super().__init__(n_classes, **(cnn_args or {}))
        self.cnn_source, self.C = cnn, float(C)

    @classmethod
    def input_contract(cls, cnn_args: dict | None = None) -> InputContract:
        return BianCNN1D.input_contract(**(cnn_args or {}))

    def embed(self, x: Tensor) -> Tensor:
        """The CNN's penultimate features ``(batch, dense)``: what the SVM reads."""
        return self.classifier[:-1](self.features(x))


@register("feng-bigru", family="hoang", tags=("fma", "stft", "sequence"))
class FengBiGRU(nn.Module):
    """Feng et al.'s BiGRU branch as used by Hoang: 128 frames x 512 STFT bins -> 256-d -> n_classes.

    Per frame: max-pool the 512 frequency bins by 2 (-> 256), linear embedding 256 -> 128; the
    128 x 128 sequence goes through one bidirectional GRU layer (128 units per direction) whose
    final forward and backward states form the 256-d summary -> Linear -> n_classes.

    Input ``(batch, n_bins=512, n_frames=128)``: Feng's "128 x 512" read as 128 frames x 512 STFT bins
    (n_fft 1024, Nyquist bin dropped; the ``feng-stft`` preset, laid out frequency first as every
    spectrogram here); output logits ``(batch, n_classes)``. The GRU runs over time (the frame axis).
    """

    def __init__(self, n_classes: int = 16, n_bins: int = 512, n_frames: int = 128, pool: int = 2,
                 embed: int = 128, hidden: int = 128):
        super().__init__()
        self.pool_size = pool
        self.embed = nn.Linear(n_bins // pool, embed)
        self.gru = nn.GRU(embed, hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, n_classes)
        self.n_bins, self.n_frames = n_bins, n_frames

    @classmethod
    def input_contract(cls, n_bins: int = 512, n_frames: int = 128) -> InputContract:
        import dataclasses

        from genrelab.features.spectral import feng_stft_spec

        spec = feng_stft_spec()  # the `feng-stft` preset: one reading of "128 x 512" for model and preset
        if (n_bins, n_frames) != (512, 128):
            feat = dataclasses.replace(spec.feature, n_fft=2 * n_bins, n_bins=n_bins, n_frames=n_frames)
            spec = dataclasses.replace(spec, feature=feat, segment_samples=(n_frames - 1) * 512)
        return InputContract(spec, (n_bins, n_frames))

    def forward(self, x: Tensor) -> Tensor:
        x = x.transpose(1, 2)  # (B, frames, bins)
        x = F.max_pool1d(x, self.pool_size)  # (B, frames, bins // pool): pools frequency within each frame
        _, h_n = self.gru(self.embed(x))
        return self.fc(bidirectional_final(h_n))


__all__ = ["BianCNN1D", "BianCNNSVM", "FengBiGRU", "EXCERPT_SAMPLES"]
