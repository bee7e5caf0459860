"""`genrelab run RECIPE --smoke` for every shipped recipe, on ../shared/data (CI).

Smoke mode: a few tracks per genre (3 GTZAN genres, or the 12 FMA-small mp3s with labels.csv for
the FMA recipes), short clips, 1 epoch, a diagonal of each grid. Runs in-process (the CLI's
`run` command calls the same functions) to avoid paying the torch import per recipe.
"""

from pathlib import Path

import pytest

from genrelab.experiments.recipe import load_recipe
from genrelab.experiments.runner import run_recipe

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_smoke(recipe, shared_data, tmp_path):
    rec = load_recipe(recipe, smoke=True, variables={"data_root": str(shared_data)})
    res = run_recipe(rec, out=tmp_path / rec.name, progress=False, echo=None)
    assert not res.failed, res.summary_text()
    assert all((tmp_path / rec.name / s.name / "metrics.json").exists() for s in res.statuses)
    # leaky and leak-free runs are labelled as such for the reports
    import json

    leaks = {json.loads((tmp_path / rec.name / s.name / "metrics.json").read_text())["split"]["leaky"]
             for s in res.statuses}
    assert False in leaks


def test_run_cli_list(shared_data):
    from typer.testing import CliRunner

    from genrelab.cli import app

    res = CliRunner().invoke(app, ["run", str(REPO / "recipes/qin.yaml"), "--smoke", "--list",
                                   "--data-root", str(shared_data)])
    assert res.exit_code == 0, res.output
    assert "study/mlp_lr1e-5" in res.output and "leakfree/" in res.output
