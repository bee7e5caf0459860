"""Issue 13 item 5: command-line habits (version, model folders, model lists, help, pipes, stray files)."""

from __future__ import annotations

import re

import soundfile as sf
from typer.testing import CliRunner

import genrelab
import inference_fixture as fx
from genrelab.cli import app

runner = CliRunner()


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"genrelab {genrelab.__version__}"


def test_classify_accepts_a_train_out_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "runs" / "mlp"
    fx.make_checkpoint(run / "checkpoint", kind="torch")
    song = tmp_path / "s.wav"
    sf.write(str(song), fx.synth("noise", 4.0), fx.SR, subtype="PCM_16")
    for ref in (run, run / "checkpoint"):
        res = runner.invoke(app, ["classify", str(song), "--model", str(ref), "-q"])
        assert res.exit_code == 0, res.output
        assert "noise" in res.output


def test_unknown_model_lists_the_valid_ones(tmp_path):
    song = tmp_path / "s.wav"
    sf.write(str(song), fx.synth("noise", 2.0), fx.SR, subtype="PCM_16")
    res = runner.invoke(app, ["classify", str(song), "--model", "no-such-model"])
    assert res.exit_code == 2
    assert "no model 'no-such-model'" in res.output and "shipped models: default" in res.output


def test_models_separates_shipped_models_from_architectures():
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    shipped, _, archs = res.output.partition("Architectures")
    assert re.search(r"^\s+default\s", shipped, re.M)  # the model classify uses is listed
    assert "musicnn-msd" not in shipped and "musicnn-msd" in archs  # a tagger backbone is not a classify model
    assert "genrelab tags" in shipped and "genrelab train --model NAME" in res.output


def _all_commands(group, prefix=()):
    import typer.main

    cmd = typer.main.get_command(app) if group is None else group
    yield prefix
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _all_commands(sub, prefix + (name,))


def test_help_shows_real_metavars_and_no_missing_commands():
    commands = list(_all_commands(None))
    assert ("classify",) in commands and ("data", "check") in commands
    for cmd in commands:
        res = runner.invoke(app, [*cmd, "--help"])
        assert res.exit_code == 0, (cmd, res.output)
        for bad in ("<bool>", "<str>", "<list[", "<path>", "<int>", "<float>"):
            assert bad not in res.output, (cmd, bad, res.output)
        usage = next(line for line in res.output.splitlines() if "Usage:" in line)
        assert "{" not in usage, (cmd, usage)  # PATHS..., not {paths}...
        assert "models list" not in res.output, cmd
    res = runner.invoke(app, ["classify", "--help"])
    assert "classify [OPTIONS] PATHS..." in res.output and "<table|csv|" in res.output  # choices shown


def test_train_writes_no_progress_frames_when_not_on_a_terminal(tmp_path, monkeypatch):
    seen = {}

    def fake_train(cfg, resume=False):
        seen["progress"] = cfg.progress
        return tmp_path

    import genrelab.training.trainer as trainer

    monkeypatch.setattr(trainer, "train", fake_train)
    table = tmp_path / "t.csv"
    table.write_text("filename,label\n")
    res = runner.invoke(app, ["train", "--model", "qin-mlp", "--dataset", "table", "--root", str(table),
                              "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert seen == {"progress": False}  # CliRunner's stdout is not a terminal
    from genrelab.cli import train as train_cli

    monkeypatch.setattr(train_cli, "_interactive", lambda: True)
    runner.invoke(app, ["train", "--model", "qin-mlp", "--dataset", "table", "--root", str(table),
                        "--out", str(tmp_path / "run")])
    assert seen == {"progress": True}


def test_recipe_data_root_is_found_from_the_recipe_folder(tmp_path, monkeypatch):
    from genrelab.experiments import runner as runner_mod

    project = tmp_path / "project"
    (project / "recipes").mkdir(parents=True)
    (project / "data").mkdir()
    recipe = project / "recipes" / "r.yaml"
    recipe.write_text("name: r\nvars: {data_root: ../data}\ndata: {dataset: table, root: '${data_root}/t.csv'}\n"
                      "runs:\n  - {name: a, model: logreg}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    got = []

    class Result:
        failed = []

        def summary_text(self):
            return "ok"

    monkeypatch.setattr(runner_mod, "run_recipe", lambda rec, **kw: (got.append(rec.variables["data_root"]), Result())[1])
    res = runner.invoke(app, ["run", str(recipe)])
    assert res.exit_code == 0, res.output
    assert got == [str((project / "data").resolve())]
    # nowhere to be found: one clear error with the hint, no run started
    (project / "data").rmdir()
    got.clear()
    res = runner.invoke(app, ["run", str(recipe)])
    assert res.exit_code == 2 and "--data-root" in res.output and got == []
