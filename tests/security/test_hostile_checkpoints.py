"""Hostile checkpoint folders: a ``model.skops`` may hold only the types genrelab writes.

Each crafted file is a valid checkpoint folder (``model.json`` with the matching SHA-256) whose skops
schema would run code when loaded (``builtins.exec`` / ``builtins.eval`` / ``os.system``); the payload
would create a marker file. Loading must refuse with an error naming the type, and the marker must
never appear, through ``checkpoint.load``, ``genrelab classify --model``, ``genrelab evaluate`` and
``genrelab serve --model``.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrelab import checkpoint
from genrelab.models import registry
from genrelab.types import CheckpointError

runner = CliRunner()
PRETRAINED = Path(checkpoint.__file__).parent / "pretrained" / "default"


def _schema(obj) -> dict:
    import skops.io as sio

    with zipfile.ZipFile(io.BytesIO(sio.dumps(obj))) as zf:
        return json.loads(zf.read("schema.json"))


def _with_schema(schema: dict, like: Path) -> bytes:
    """The skops file ``like`` with its schema replaced (its array files kept)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(like) as src, zipfile.ZipFile(buf, "w") as zf:
        for name in src.namelist():
            zf.writestr(name, json.dumps(schema) if name == "schema.json" else src.read(name))
    return buf.getvalue()


def _call(module: str, name: str, arg: str, proto: dict) -> dict:
    """A skops node that calls ``module.name(arg)`` when constructed."""
    args = _schema((arg,))
    for k in ("protocol", "_skops_version"):
        args.pop(k, None)
    node = {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode", "content": args}
    return {**node, **{k: proto[k] for k in ("protocol", "_skops_version") if k in proto}}


def _payload(kind: str, marker: Path) -> tuple[str, str, str]:
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    if kind == "exec":
        return "builtins", "exec", code
    if kind == "eval":
        return "builtins", "eval", code
    return "os", "system", f"touch '{marker}'"


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 10)
    x = (rng.normal(0, 3, size=(3, 57))[y] + rng.normal(0, 1, size=(30, 57))).astype(np.float32)
    return x, y


def _real_checkpoint(path: Path, fitted) -> Path:
    x, y = fitted
    model = registry.build("logreg", n_classes=3)
    model.fit(x, y)
    return checkpoint.save(path, model, model_name="logreg", labels=["a", "b", "c"])


def _poison(ckpt: Path, payload: bytes) -> None:
    (ckpt / checkpoint.SKLEARN_WEIGHTS).write_bytes(payload)
    meta = json.loads((ckpt / checkpoint.META_FILE).read_text())
    meta["weights"]["sha256"] = hashlib.sha256(payload).hexdigest()  # a consistent, "valid" folder
    (ckpt / checkpoint.META_FILE).write_text(json.dumps(meta))


def _hostile(tmp_path: Path, fitted, kind: str, nested: bool = False) -> tuple[Path, Path, str]:
    ckpt = _real_checkpoint(tmp_path / f"ckpt-{kind}", fitted)
    marker = tmp_path / f"marker-{kind}"
    real = zipfile.ZipFile(ckpt / checkpoint.SKLEARN_WEIGHTS).read("schema.json")
    proto = json.loads(real)
    module, name, arg = _payload(kind, marker)
    node = _call(module, name, arg, proto)
    if nested:  # hidden inside the real pipeline, in place of its `memory` parameter
        schema = proto
        schema["content"]["content"]["memory"] = {k: v for k, v in node.items() if k not in ("protocol", "_skops_version")}
    else:
        schema = node
    _poison(ckpt, _with_schema(schema, ckpt / checkpoint.SKLEARN_WEIGHTS))
    return ckpt, marker, f"{module}.{name}"


def test_the_crafted_file_would_run_its_payload_without_the_allow_list(tmp_path, fitted):
    """The test's payload is live: skops itself, told to trust it, runs it (so the refusals below mean something)."""
    import skops.io as sio

    ckpt, marker, typ = _hostile(tmp_path, fitted, "exec")
    data = (ckpt / checkpoint.SKLEARN_WEIGHTS).read_bytes()
    assert typ in sio.get_untrusted_types(data=data)
    sio.loads(data, trusted=[typ])
    assert marker.exists()


@pytest.mark.parametrize("kind", ["exec", "eval", "system"])
@pytest.mark.parametrize("nested", [False, True])
def test_checkpoint_load_refuses_and_names_the_type(tmp_path, fitted, kind, nested):
    ckpt, marker, typ = _hostile(tmp_path, fitted, kind, nested)
    with pytest.raises(CheckpointError) as exc:
        checkpoint.load(ckpt)
    assert typ in str(exc.value)
    assert checkpoint.SKLEARN_WEIGHTS in str(exc.value)  # names the file
    assert not marker.exists()


def test_classify_refuses_the_model(tmp_path, fitted):
    from genrelab.cli import app

    ckpt, marker, typ = _hostile(tmp_path, fitted, "exec", nested=True)
    wav = tmp_path / "song.wav"
    sf.write(str(wav), (0.1 * np.sin(np.arange(22050 * 3) * 0.05)).astype(np.float32), 22050)
    res = runner.invoke(app, ["classify", str(wav), "--model", str(ckpt)])
    assert res.exit_code != 0
    assert typ in res.output
    assert not marker.exists()


def test_evaluate_refuses_the_model(tmp_path, fitted):
    from genrelab.cli import app

    ckpt, marker, typ = _hostile(tmp_path, fitted, "exec")
    (tmp_path / "data").mkdir()
    res = runner.invoke(app, ["evaluate", str(ckpt), "--dataset", "folder", "--root", str(tmp_path / "data"), "-q"])
    assert res.exit_code != 0
    assert typ in res.output
    assert not marker.exists()


def test_serve_refuses_the_model_before_serving(tmp_path, fitted, monkeypatch):
    pytest.importorskip("fastapi")
    uvicorn = pytest.importorskip("uvicorn")
    from genrelab.cli import app

    def never(*a, **k):
        raise AssertionError("the server started with a hostile model")

    monkeypatch.setattr(uvicorn, "run", never)
    ckpt, marker, typ = _hostile(tmp_path, fitted, "exec", nested=True)
    res = runner.invoke(app, ["serve", "--model", str(ckpt), "--port", "1"])
    assert res.exit_code == 2  # refused at start-up, uvicorn never runs
    assert typ in res.output
    assert not marker.exists()


def test_unreadable_skops_file_is_a_clear_error(tmp_path, fitted):
    ckpt = _real_checkpoint(tmp_path / "ck", fitted)
    _poison(ckpt, b"not a zip at all")
    with pytest.raises(CheckpointError, match="model.skops"):
        checkpoint.load(ckpt)


def test_a_tree_pointing_outside_itself_is_refused(tmp_path, fitted):
    x, y = fitted
    model = registry.build("random-forest", n_classes=3, n_estimators=2)
    model.fit(x, y)
    ckpt = checkpoint.save(tmp_path / "rf", model, model_name="random-forest", labels=["a", "b", "c"])
    checkpoint.load(ckpt)  # the honest one loads
    real = json.loads(zipfile.ZipFile(ckpt / checkpoint.SKLEARN_WEIGHTS).read("schema.json"))
    with zipfile.ZipFile(ckpt / checkpoint.SKLEARN_WEIGHTS) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    # Tree nodes are a structured numpy array saved as .npy: point a child index far outside the array
    tree_nodes = [n for n in files if n.endswith(".npy")]
    changed = False
    for name in tree_nodes:
        arr = np.load(io.BytesIO(files[name]), allow_pickle=False)
        if arr.dtype.names and "left_child" in arr.dtype.names:
            inner = np.flatnonzero(arr["left_child"] != -1)
            arr["left_child"][inner[0]] = 10_000_000
            out = io.BytesIO()
            np.save(out, arr, allow_pickle=False)
            files[name] = out.getvalue()
            changed = True
            break
    assert changed
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, b in files.items():
            zf.writestr(n, b)
    assert real  # schema kept as is
    _poison(ckpt, buf.getvalue())
    with pytest.raises(CheckpointError, match="decision tree"):
        checkpoint.load(ckpt)


def test_shipped_default_model_loads():
    ck = checkpoint.load(PRETRAINED)
    assert ck.kind == "sklearn" and len(ck.labels) == 10
    assert ck.model.predict_proba(np.zeros((1, ck.contract.input_shape[0]))).shape == (1, 10)


@pytest.mark.parametrize("name", [e.name for e in registry.list_models()  # genrelab's own: not the test fixtures'
                                  if e.kind == "sklearn" and e.cls.__module__.startswith("genrelab.")])
def test_every_registry_sklearn_model_round_trips(tmp_path, fitted, name):
    x, y = fitted
    model = registry.build(name, n_classes=3)
    model.fit(x, y)
    checkpoint.save(tmp_path / name, model, model_name=name, labels=["a", "b", "c"])
    np.testing.assert_array_equal(checkpoint.load(tmp_path / name).model.predict_proba(x), model.predict_proba(x))


@pytest.mark.parametrize("algorithm", ["kd_tree", "ball_tree"])
def test_knn_with_tree_indexes_round_trips(tmp_path, fitted, algorithm):
    x, y = fitted
    model = registry.build("knn", n_classes=3)
    model.set_params(knn__algorithm=algorithm)
    model.fit(x, y)
    checkpoint.save(tmp_path / "knn", model, model_name="knn", labels=["a", "b", "c"])
    np.testing.assert_array_equal(checkpoint.load(tmp_path / "knn").model.predict_proba(x), model.predict_proba(x))
