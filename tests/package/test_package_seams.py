"""The seams of the package: what measures vlcat (benchmarks, the offline world, test fixtures) stays out of
what vlcat is. Read from the source's import statements, so a new import across a seam fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import vlcat

PKG = Path(vlcat.__file__).parent
OUTSIDE_THE_CORE = ("vlcat.bench", "vlcat.synth", "vlcat.testing")
# the packages measured or served by them, and the commands over them (vlcat/cli/): the app that sets up the
# offline world for a newcomer, the benchmarks' and the toy CLIP's command lines
NOT_CORE = ("bench", "synth", "testing.py", "cli/quickstart.py", "cli/bench", "cli/toy_pretrain.py",
            "cli/toy_probe.py")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_the_core_imports_no_benchmark_no_offline_world_and_no_test_fixture():
    crossing = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if any(rel.as_posix() == n or rel.as_posix().startswith(f"{n}/") for n in NOT_CORE):
            continue
        bad = sorted(n for n in _imports(path) if n.startswith(OUTSIDE_THE_CORE) or n in ("vlcat.bench", "vlcat.synth"))
        crossing += [f"{rel}: {n}" for n in bad]
    assert crossing == []


def test_the_seam_test_sees_a_crossing(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from vlcat.synth.dataset import build_synth_dataset\n")
    assert "vlcat.synth.dataset" in _imports(bad)
