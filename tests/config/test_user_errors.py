"""Every user mistake is one ``error:`` line with exit status 2, and nothing is half-written.

Each case is something a new user typed (or a file a user has) that used to give a traceback, a silent
wrong result or a file outside its folder. Real tiny trainings, real files, the real command lines.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vlcat import rundir
from vlcat.cli import eval_main, train_main
from vlcat.testing import assert_one_line_error, tiny_overrides, tiny_run

REPO = Path(__file__).resolve().parents[2]


def _variant(tiny_data, tmp_path, name: str, edit) -> Path:
    """A copy of the tiny dataset's card and split file, with the split edited by ``edit(split)``."""
    root, card = tiny_data
    split = json.loads((root / "tiny" / "split_tiny.json").read_text())
    edit(split)
    (root / "tiny" / f"split_{name}.json").write_text(json.dumps(split))
    path = tmp_path / f"{name}.yaml"
    path.write_text(card.read_text().replace("name: tiny", f"name: {name}").replace("split_tiny", f"split_{name}"))
    return path


@pytest.mark.parametrize("extra, text", [
    ({"optim.lr": "${nope}"}, "Interpolation key 'nope' not found"),
    ({"optim.lr": "inf"}, "optim.lr=inf is not a finite number"),
    ({"optim.momentum": "nan"}, "optim.momentum=nan is not a finite number"),
    ({"model.device": "tpu9"}, "model.device='tpu9' is not one of"),
    ({"train.eval_splits": "[tst]"}, "train.eval_splits: 'tst' is not one of: train, val, test"),
    ({"model.name": "vlcat-toy", "model.config": "null", "model.pretrained": "openai"},
     "model.pretrained='openai' would be ignored"),
    ({"learner.n_ctx": 2, "learner.ctx_init": "'a photo of a'"}, "gives 4 context vector(s) but learner.n_ctx=2"),
    # found beyond the list: tracebacks from numpy/DataLoader, or silently accepted
    ({"train.seed": -5}, "train.seed must be in 0..2**32-1"),
    ({"data.num_workers": -1}, "data.num_workers must be >= 0"),
    ({"train.eval_batch_size": 0}, "train.eval_batch_size must be >= 1"),
    ({"optim.warmup_lr": -1}, "optim.warmup_lr must be >= 0"),
    ({"llm.max_concurrency": 0}, "llm.max_concurrency must be >= 1"),
])
def test_bad_values_are_one_line_and_write_nothing(tiny_data, tiny_model_file, tmp_path, capsys, extra, text):
    assert train_main(tiny_run(tiny_data, tiny_model_file, tmp_path, **extra)) == 2
    assert_one_line_error(capsys.readouterr().err, text)
    assert not (tmp_path / "run").exists()


def test_extends_must_name_files(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("extends: 7\n")
    assert train_main(["-c", str(cfg), "-o", str(tmp_path / "run")]) == 2
    assert_one_line_error(capsys.readouterr().err, "'extends' must be a file name or a list of file names, got 7")


def test_overrides_may_come_before_and_after_options(tiny_data, tiny_model_file, tmp_path, capsys):
    over = tiny_run(tiny_data, tiny_model_file, tmp_path, **{"optim.max_epoch": 1})
    assert over[0].startswith("output_dir=")
    assert train_main(over[1:4] + ["-o", str(tmp_path / "mixed")] + over[4:]) == 0
    assert (tmp_path / "mixed" / rundir.RECORD).is_file()


def test_a_one_class_dataset_is_refused(tiny_data, tiny_model_file, tmp_path, capsys):
    def one_class(split):
        for part in split:
            split[part] = [row for row in split[part] if row[1] == 0]

    card = _variant(tiny_data, tmp_path, "oneclass", one_class)
    assert train_main(tiny_run(tiny_data, tiny_model_file, tmp_path, **{"data.dataset": card})) == 2
    assert_one_line_error(capsys.readouterr().err, "has 1 class(es); classification needs at least 2")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("bad_path", ["../../outside.png", "/etc/passwd"])
def test_split_entries_outside_the_dataset_folder_are_refused(tiny_data, tiny_model_file, tmp_path, capsys,
                                                              bad_path):
    card = _variant(tiny_data, tmp_path, "escape", lambda split: split["train"][0].__setitem__(0, bad_path))
    assert train_main(tiny_run(tiny_data, tiny_model_file, tmp_path, **{"data.dataset": card})) == 2
    assert_one_line_error(capsys.readouterr().err, "is outside the dataset folder")


def test_csv_entries_outside_the_dataset_folder_are_refused(tmp_path, tiny_model_file, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "list.csv").write_text("path,label\n../secret.png,cat\nok.png,dog\n")
    over = tiny_overrides(tmp_path, f"csv:{tmp_path / 'data' / 'list.csv'}", tiny_model_file, tmp_path / "cache",
                          tmp_path / "run")
    assert train_main(over) == 2
    assert_one_line_error(capsys.readouterr().err, "'../secret.png' is outside the dataset folder")


def test_class_names_with_quotes_fit_their_prompts(tiny_data, tiny_model_file, tmp_path):
    """`red, "circle"` ends in a token the tokenizer merges with the period; it must still fit."""
    names = ["blue's square", 'red, "circle"', "green", "yellow"]

    def quoted(split):
        for part in split.values():
            for row in part:
                row[2] = names[row[1]]

    card = _variant(tiny_data, tmp_path, "quoted", quoted)
    # n_ctx=23 leaves exactly room for the longest name (5 tokens) in the tiny model's 32-token context
    over = tiny_run(tiny_data, tiny_model_file, tmp_path, **{"data.dataset": card, "optim.max_epoch": 1,
                                                          "learner.n_ctx": 23})
    assert train_main(over) == 0
    record = json.loads((tmp_path / "run" / rundir.RECORD).read_text())
    assert record["classnames"] == names


def test_non_utf8_class_folders_are_one_line(tiny_data, tiny_model_file, tmp_path, capsys):
    root, _ = tiny_data
    folder = tmp_path / "folders"
    for name in ("red", "green"):
        shutil.copytree(root / "tiny" / "images" / name, folder / name)
    shutil.copytree(root / "tiny" / "images" / "blue", os.fsdecode(os.fsencode(str(folder)) + b"/caf\xe9"))
    over = tiny_run(tiny_data, tiny_model_file, tmp_path, **{"data.dataset": f"folder:{folder}"})
    assert train_main(over) == 2
    assert_one_line_error(capsys.readouterr().err, "is not a valid UTF-8 name")


@pytest.mark.parametrize("strict", [True, False])
def test_undecodable_images_fail_or_are_skipped_with_data_strict(tiny_data, tiny_model_file, tmp_path, capsys,
                                                                 strict):
    root, _ = tiny_data
    folder = tmp_path / "folders"
    for name in ("red", "green", "blue"):
        shutil.copytree(root / "tiny" / "images" / name, folder / name)
    for name in ("red", "green", "blue"):  # one broken file per class, wherever the split puts it
        (folder / name / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    over = tiny_run(tiny_data, tiny_model_file, tmp_path, **{
        "data.dataset": f"folder:{folder}", "data.strict": strict, "data.num_shots": 2, "optim.max_epoch": 1})
    if strict:
        assert train_main(over) == 2
        assert_one_line_error(capsys.readouterr().err, "cannot decode image")
        return
    with pytest.warns(UserWarning, match="cannot be decoded"):
        assert train_main(over) == 0
    record = json.loads((tmp_path / "run" / rundir.RECORD).read_text())
    assert record["skipped_images"] >= 1


def test_a_run_checkpoint_is_not_clip_weights(tiny_data, tiny_model_file, tmp_path, capsys):
    assert train_main(tiny_run(tiny_data, tiny_model_file, tmp_path, "first", **{"optim.max_epoch": 1})) == 0
    capsys.readouterr()
    bad = tiny_run(tiny_data, tiny_model_file, tmp_path, **{
        "model.checkpoint": tmp_path / "first" / rundir.CHECKPOINT})
    assert train_main(bad) == 2
    assert_one_line_error(capsys.readouterr().err, "is not a CLIP weights file")


def test_eval_name_stays_inside_the_run_folder(tiny_data, tiny_model_file, tmp_path, capsys):
    assert train_main(tiny_run(tiny_data, tiny_model_file, tmp_path, **{"optim.max_epoch": 1})) == 0
    capsys.readouterr()
    assert eval_main([str(tmp_path / "run"), "--name", "../../x"]) == 2
    assert_one_line_error(capsys.readouterr().err, "must be a plain file name")
    assert not (tmp_path / "x.json").exists() and not list(tmp_path.rglob("x.json"))


@pytest.mark.parametrize("override", ["learner.n_ctx=8", "learner.csc=true"])
def test_eval_cannot_change_what_the_prompt_is(tiny_data, tiny_model_file, tmp_path, capsys, override):
    """A unified context loaded into a class-specific learner used to broadcast silently; n_ctx a traceback."""
    assert train_main(tiny_run(tiny_data, tiny_model_file, tmp_path, **{"optim.max_epoch": 1})) == 0
    capsys.readouterr()
    assert eval_main([str(tmp_path / "run"), override]) == 2
    assert_one_line_error(capsys.readouterr().err, "cannot change at evaluation")
    assert not (tmp_path / "run" / rundir.EVAL_DIR).exists()


def test_report_out_that_is_a_file(tiny_data, tiny_model_file, tmp_path, capsys):
    from vlcat.cli.report import main as report_main

    assert train_main(tiny_run(tiny_data, tiny_model_file, tmp_path, **{"optim.max_epoch": 1})) == 0
    (tmp_path / "report.txt").write_text("mine")
    capsys.readouterr()
    assert report_main([str(tmp_path / "run"), "--out", str(tmp_path / "report.txt")]) == 2
    assert_one_line_error(capsys.readouterr().err, "is a file")
    assert (tmp_path / "report.txt").read_text() == "mine"


def _tool(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "tools" / name), *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


@pytest.mark.parametrize("tool", ["fewshot.py", "base2novel.py"])
def test_sweep_help_examples_plan_and_unknown_datasets_are_named(tool, tmp_path):
    """The --help examples (`seeds=[1,2] datasets=[dtd,eurosat]`) with the default sweep, which carries CoOp's
    ImageNet and per-K rules, must plan; a typo in a dataset name is that error, not another one."""
    ok = _tool(tool, "--dry-run", "-o", str(tmp_path / "sweep"), "seeds=[1,2]", "datasets=[dtd,eurosat]", "shots=[1]")
    assert ok.returncode == 0, ok.stderr
    assert "dtd" in ok.stdout and "imagenet" not in ok.stdout
    bad = _tool(tool, "--dry-run", "-o", str(tmp_path / "sweep"), "datasets=[dtdd]")
    assert bad.returncode == 2
    assert_one_line_error(bad.stderr, "unknown dataset 'dtdd'")
    assert not (tmp_path / "sweep").exists()


def test_serving_the_llm_to_the_network_needs_a_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VLCAT_LLM_API_KEY"}
    res = subprocess.run([sys.executable, str(REPO / "tools" / "serve_llm.py"), "--host", "0.0.0.0"],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert res.returncode == 2
    assert_one_line_error(res.stderr, "--host 0.0.0.0 exposes the server to the network without an API key")


def test_the_llm_api_key_is_not_on_the_command_line():
    from vlcat.llm.serve import ServerConfig

    cmd = ServerConfig(model="m", api_key="s3cret-key").command(Path(sys.executable), 8000)
    assert not any("s3cret-key" in part for part in cmd) and "--api-key" not in cmd


def test_an_unreachable_llm_names_the_real_config_key():
    import socket

    from vlcat.llm.client import LLMClient

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = LLMClient(f"http://127.0.0.1:{port}/v1", "", max_retries=0).health(timeout=2)
    assert not status.ok and "llm.base_url" in status.error and "llm.url" not in status.error
    assert "'?'" not in status.error


@pytest.mark.llm
def test_listing_an_endpoints_models_does_not_need_a_model_name(llm_server):
    from vlcat.llm.client import LLMClient

    status = LLMClient(llm_server.url, "", api_key=llm_server.api_key).health(timeout=30)
    assert status.ok and llm_server.served_name in status.models


def test_a_closed_pipe_is_not_a_traceback(tmp_path):
    """`vlcat-fewshot --dry-run | head -1`: the reader leaving early is not an error."""
    res = subprocess.run(f"{shlex.quote(sys.executable)} tools/fewshot.py --dry-run -o {shlex.quote(str(tmp_path))} "
                         "| head -1", shell=True, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.count("\n") == 1
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr
