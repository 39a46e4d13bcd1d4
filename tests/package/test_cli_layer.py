"""The command-line layer is one layer: every console script resolves, every ``tools/*.py`` is a thin script over
a console script's function, the library never imports ``vlcat.cli``, and the guard's contract holds.

Why: console scripts are only checked by an install, which the tests do not make, and logic that creeps back
into a script or a library module that imports the CLI is what this layout exists to prevent.
"""

from __future__ import annotations

import ast
import importlib
import tomllib
from pathlib import Path

import pytest

from vlcat.cli.guard import run_guarded
from vlcat.errors import ConfigError, VlcatError

REPO = Path(__file__).resolve().parents[2]
SCRIPTS: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def _resolve(target: str) -> object:
    module, _, attr = target.partition(":")
    obj: object = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_console_script_resolves_to_a_callable(name: str) -> None:
    assert name.startswith("vlcat-")
    assert SCRIPTS[name].startswith("vlcat.cli.")
    assert callable(_resolve(SCRIPTS[name]))


def _tool_target(path: Path) -> str:
    """``module:function`` a thin tool calls; fails when the script holds anything else."""
    tree = ast.parse(path.read_text())
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    kinds = [type(node).__name__ for node in body]
    assert kinds == ["Import", "ImportFrom", "If"], f"{path.name}: not a thin script ({kinds})"
    imp = body[1]
    assert isinstance(imp, ast.ImportFrom) and imp.module and imp.module.startswith("vlcat.cli"), path.name
    assert len(imp.names) == 1 and imp.names[0].asname is None, path.name
    return f"{imp.module}:{imp.names[0].name}"


@pytest.mark.parametrize("tool", sorted(p.name for p in (REPO / "tools").glob("*.py")))
def test_every_tool_is_a_thin_script_over_a_console_script(tool: str) -> None:
    target = _tool_target(REPO / "tools" / tool)
    assert target in SCRIPTS.values(), f"tools/{tool} calls {target}, which no console script installs"
    expected = "vlcat-" + tool.removesuffix(".py").replace("_", "-")
    assert SCRIPTS.get(expected) == target, f"tools/{tool} should be the console script {expected}"


def test_the_library_never_imports_the_command_line_layer() -> None:
    offenders = []
    for path in (REPO / "vlcat").rglob("*.py"):
        if (REPO / "vlcat" / "cli") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "vlcat.cli" or n.startswith("vlcat.cli.") for n in names):
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"library modules import vlcat.cli: {offenders}"


@pytest.mark.parametrize("name", ["train_main", "eval_main", "serve_llm_main", "report_main", "base2novel_main",
                                  "fewshot_main", "import_checkpoint_main", "export_classifier_main",
                                  "check_data_main"])
def test_the_former_entry_point_names_still_resolve(name: str) -> None:
    import vlcat.cli

    assert callable(getattr(vlcat.cli, name))
    with pytest.raises(AttributeError):
        vlcat.cli.no_such_command  # noqa: B018


def test_the_guard_turns_an_error_into_one_line_and_its_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    class Busy(VlcatError):
        exit_code = 3

    def fail(exc: VlcatError) -> None:
        raise exc

    assert run_guarded(lambda: fail(ConfigError("bad key"))) == 2
    assert capsys.readouterr().err == "error: bad key\n"
    assert run_guarded(lambda: fail(Busy("locked"))) == 3
    assert capsys.readouterr().err == "error: locked\n"
    assert run_guarded(lambda: None) == 0
    assert run_guarded(lambda: 1) == 1
