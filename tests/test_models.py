"""The model registry: one place that names every model, read by the CLI, config and `hashtagger models`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ColourTagger, make_photo, registered_fakes

from hashtagger.cli import cli
from hashtagger.errors import InputError
from hashtagger.models.registry import Requirement, get_model, list_models, load_model, model_names


def test_models_command_lists_builtins_and_trainable_kinds() -> None:
    r = CliRunner().invoke(cli, ["models"])
    assert r.exit_code == 0, r.output
    for name in ("zeroshot", "hierse", "classifier", "bovw_svm"):
        assert f"  {name} " in r.output
    assert "Built-in models" in r.output and "Trainable kinds" in r.output
    assert "WordNet" in r.output  # hierse on a custom vocabulary needs it, installed or not


def test_models_json_matches_the_registry() -> None:
    r = CliRunner().invoke(cli, ["models", "--format", "json"])
    assert r.exit_code == 0
    rows = json.loads(r.output)
    assert [row["name"] for row in rows] == [e.name for e in list_models()]
    by_name = {row["name"]: row for row in rows}
    assert by_name["zeroshot"]["role"] == "builtin" and by_name["classifier"]["resumable"] is True
    assert {req["name"] for req in by_name["bovw_svm"]["requires"]} == {"PyTorch", "OpenCV"}
    assert all(isinstance(req["installed"], bool) for row in rows for req in row["requires"])


def test_config_choices_and_cli_help_read_the_registry() -> None:
    from hashtagger.train.config import MODEL_KINDS

    assert MODEL_KINDS == model_names("trainable") == ("classifier", "bovw_svm")
    r = CliRunner().invoke(cli, ["predict", "--help"])
    assert "zeroshot, hierse" in " ".join(r.output.split())


def test_a_registered_model_is_usable_by_name(register_fake) -> None:
    register_fake("colours", ColourTagger)
    assert "colours" in model_names("builtin")
    assert load_model("colours").vocabulary == ColourTagger().vocabulary


def test_a_fake_of_a_shipped_model_is_undone_in_place() -> None:
    before = list_models()
    with registered_fakes() as register:
        register("zeroshot", ColourTagger)
        register("colours", ColourTagger)
        assert load_model("zeroshot").vocabulary == ColourTagger().vocabulary
    assert list_models() == before and get_model("zeroshot") == before[0]  # same entries, same order
    assert "colours" not in model_names("builtin")


def test_fake_model_loads_through_the_registry(fake_model) -> None:
    assert load_model("zeroshot") is fake_model.tagger and fake_model.loaded == ["zeroshot"]


def test_unknown_names_and_paths_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="neither a built-in model .*zeroshot.* nor an existing model file"):
        load_model(tmp_path / "nope.pt")
    with pytest.raises(InputError, match="unknown model 'resnet9'"):
        get_model("resnet9", role="trainable")


def test_vocabulary_and_prior_weight_are_refused_for_model_files(tmp_path: Path) -> None:
    f = tmp_path / "m.pt"
    f.write_bytes(b"x")
    for kw, option in (({"vocabulary": ["a"]}, "--vocab"), ({"prior_weight": 0.5}, "--prior-weight")):
        with pytest.raises(InputError, match=f"{option} applies to built-in zero-shot models only"):
            load_model(f, **kw)


def test_requirement_checks_modules_without_importing() -> None:
    assert Requirement("json", "-", module="json").met()
    assert not Requirement("nothing", "-", module="no_such_module_hashtagger").met()
    assert not Requirement("never", "-", check="builtins:bool").met()  # bool() is False


@pytest.mark.slow
def test_predicting_a_photo_imports_no_training_or_download_code(tmp_path: Path) -> None:
    """The predict path stays apart from train/ and download/ (and their heavy imports)."""
    photo = make_photo(tmp_path / "p.png", size=(64, 48))
    code = (
        "import sys, io\n"
        "from hashtagger.predict.run import run_predict\n"
        "from hashtagger.runtime import RunOptions\n"
        "from hashtagger.models.spec import ModelSpec\n"
        f"n = run_predict([{str(photo)!r}], spec=ModelSpec('zeroshot'), out=io.StringIO(),"
        " run=RunOptions(quiet=True, workers=0))\n"
        "assert n == 0\n"
        "watched = ('hashtagger', 'timm', 'torchvision')\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith(watched))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.split()
    assert "hashtagger.models.zeroshot" in loaded  # the real model ran
    assert not [m for m in loaded if m.startswith(("hashtagger.train", "hashtagger.download"))]
    assert not [m for m in loaded if m.startswith(("timm", "torchvision"))]  # cold start: plain torch.nn
