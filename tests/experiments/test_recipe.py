import textwrap
from pathlib import Path

import pytest


from genrelab.experiments.recipe import expand_grid, load_recipe, parse_recipe, smoke_cover
from genrelab.types import ConfigError

REPO = Path(__file__).resolve().parents[2]


def base(**kw):
    d = {
        "name": "t",
        "vars": {"data_root": "/data"},
        "data": {"dataset": "table", "root": "${data_root}/t.csv", "split": "stratified", "ratios": [0.8, 0.2]},
        "defaults": {"epochs": 5, "optim": {"optimizer": "adam", "lr": 1e-3}},
        "runs": [{"name": "mlp", "model": "test-tiny-mlp", "grid": {"optim.lr": [1e-5, 3e-5], "batch_size": [4, 8]}}],
    }
    d.update(kw)
    return d


def test_grid_expansion_names_and_values():
    r = parse_recipe(base())
    assert [x.name for x in r.runs] == ["mlp_lr1e-5_bs4", "mlp_lr1e-5_bs8", "mlp_lr3e-5_bs4", "mlp_lr3e-5_bs8"]
    c = r.runs[3].config
    assert c.optim.lr == 3e-5 and c.batch_size == 8 and c.epochs == 5 and c.data.root == "/data/t.csv"
    assert c.optim.optimizer == "adam"  # defaults kept under the grid value


def test_named_choices_and_split_variants():
    raw = base(splits={"study": {"split": "stratified", "allow_artist_leak": True},
                       "leakfree": {"split": "artist"}})
    raw["runs"] = [{"name": "m", "model": "test-tiny-mlp", "grid": {
        "opt": {"sgd": {"optim.optimizer": "sgd", "optim.lr": 0.01}, "adam": {"optim.optimizer": "adam"}},
        "clr": {"off": {"optim.scheduler": "none"},
                "on": {"optim.scheduler": "triangular", "optim.base_lr": 5e-4, "optim.max_lr": 1e-3}}}}]
    r = parse_recipe(raw)
    names = [x.name for x in r.runs]
    assert len(names) == 8 and "study/m_sgd_clroff" in names and "leakfree/m_adam_clron" in names
    run = next(x for x in r.runs if x.name == "leakfree/m_sgd_clron")
    assert run.config.optim.optimizer == "sgd" and run.config.optim.lr == 0.01
    assert run.config.optim.scheduler == "triangular" and run.config.optim.max_lr == 1e-3
    assert run.config.data.split == "artist" and run.split == "leakfree"
    assert next(x for x in r.runs if x.name.startswith("study/")).config.data.allow_artist_leak


def test_variables_override_and_env(monkeypatch):
    r = parse_recipe(base(), variables={"data_root": "/elsewhere"})
    assert r.runs[0].config.data.root == "/elsewhere/t.csv"
    monkeypatch.setenv("GENRELAB_DATA_ROOT", "/from-env")
    assert parse_recipe(base()).runs[0].config.data.root == "/from-env/t.csv"


def test_smoke_mode_is_tiny():
    raw = base(smoke={"data": {"max_per_genre": 2}})
    r = parse_recipe(raw, smoke=True)
    assert len(r.runs) == 1  # numeric axes keep their first value
    c = r.runs[0].config
    assert c.epochs == 1 and c.data.max_per_genre == 2 and not c.progress


def test_smoke_cover_hits_every_choice():
    grid = {"a": {"x": {}, "y": {}, "z": {}}, "b": {"p": {}, "q": {}}, "lr": [1, 2]}
    points = expand_grid(grid, "t")
    chosen = smoke_cover(points, grid)
    assert {p[2]["a"] for p in chosen} == {"x", "y", "z"} and {p[2]["b"] for p in chosen} == {"p", "q"}
    assert {p[2]["lr"] for p in chosen} == {1} and len(chosen) == 3


@pytest.mark.parametrize("mutate,msg", [
    (lambda d: d.update(runs=[]), "non-empty list"),
    (lambda d: d.update(bogus=1), "unknown top-level"),
    (lambda d: d["runs"][0].update(model="no-such-model"), "unknown model"),
    (lambda d: d["runs"][0].update(epochs=0), "epochs must be >= 1"),
    (lambda d: d["runs"][0].update(optimizer="adam"), "no field"),
    (lambda d: d["runs"][0].update(grid={"optim.optimizer": ["adagrad"]}), "unknown optimizer"),
    (lambda d: d["runs"][0].update(grid={"optim.lr": []}), "empty"),
    (lambda d: d["data"].update(root="${nowhere}/x"), "undefined variable"),
    (lambda d: d["data"].update(split="by-magic"), "unknown split method"),
    (lambda d: d.update(runs=[{"model": "test-tiny-mlp"}, {"model": "test-tiny-mlp"}]), "duplicate run name"),
    (lambda d: d["runs"][0].update(splits=["nope"]), "unknown split variant"),
])
def test_validation_errors(mutate, msg):
    raw = base()
    mutate(raw)
    with pytest.raises(ConfigError, match=msg):
        parse_recipe(raw)


def test_yaml_file_errors(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_recipe(p)
    with pytest.raises(ConfigError, match="not found"):
        load_recipe(tmp_path / "missing.yaml")


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_recipe_parses(recipe):
    full = load_recipe(recipe)
    smoke = load_recipe(recipe, smoke=True)
    assert full.runs and smoke.runs and len(smoke.runs) <= len(full.runs)
    assert all(r.config.epochs == 1 for r in smoke.runs)
    splits = {r.config.data.split for r in full.runs}
    # every study recipe also runs a leak-free split
    assert splits & {"artist", "gtzan-filtered", "fma-official"}, splits
