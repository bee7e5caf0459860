"""musicnn (Pons & Serra 2019): the pretrained music taggers of the ``musicnn`` package, without TensorFlow.

One concern per module; importing this package imports neither torch nor librosa:

- :mod:`~genrelab.musicnn.info`: constants (sample rate, mel bands, the 187-frame patch), the four
  pretrained models and their tags, where checkpoints and converted weights live (torch-free).
- :mod:`~genrelab.musicnn.dsp`: the log-mel input and its patches in numpy, bit for bit librosa's;
  streaming patches for long files.
- :mod:`~genrelab.musicnn.network`: the PyTorch port of the musicnn and vgg architectures.
- :mod:`~genrelab.musicnn.weights`: the TF checkpoint reader and the conversion to cached safetensors.
- :mod:`~genrelab.musicnn.wheel`: the ``musicnn`` 0.1.0 wheel fetched from PyPI (checked by SHA-256)
  when the package is not installed.
- :mod:`~genrelab.musicnn.runtime`: the inference engine (ONNX Runtime or PyTorch) and its ONNX export.

The feature kinds ``musicnn-mel`` and ``musicnn`` are registered in :mod:`genrelab.features.musicnn`, the
models ``musicnn``, ``musicnn-msd``, ``musicnn-mtt``, ``vgg-msd`` and ``vgg-mtt`` in :mod:`genrelab.models.musicnn`.
"""
