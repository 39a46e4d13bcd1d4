"""Aggregation and tables on hand-written records: known numbers in, exact cells out."""

from __future__ import annotations

import math

import pytest

from vlcat.cli.report import main as report_main
from vlcat.report import make_report
from vlcat.results import harmonic_mean, load_results, summarize
from vlcat.tables import GAP, build_tables, to_csv, to_markdown


def row(markdown: str, label: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in (label, f"**{label}**"):
            return cells[1:]
    raise AssertionError(f"no row {label!r} in\n{markdown}")


def test_mean_and_std_over_seeds():
    s0 = summarize([70.0, 72.0, 74.0])
    assert (s0.mean, s0.n) == (72.0, 3)
    assert s0.std == pytest.approx(math.sqrt(8 / 3))  # population std (ddof=0), as CoOp's parser prints
    assert summarize([70.0, 72.0, 74.0], ddof=1).std == pytest.approx(2.0)
    assert math.isnan(summarize([70.0], ddof=1).std)
    assert summarize([70.0]).std == 0.0


def test_harmonic_mean():
    assert harmonic_mean(80.0, 60.0) == pytest.approx(2 * 80 * 60 / 140)
    assert harmonic_mean(0.0, 0.0) == 0.0


def test_fewshot_table_cells_average_and_gap(tmp_path, records):
    for seed, (a1, a2) in zip((1, 2, 3), ((40, 60), (42, 62), (44, 64)), strict=True):
        records.record(tmp_path / f"coop/dtd/shots1_seed{seed}", method="coop", dataset="dtd", seed=seed, acc=a1,
                       shots=1)
        records.record(tmp_path / f"coop/dtd/shots2_seed{seed}", method="coop", dataset="dtd", seed=seed, acc=a2,
                       shots=2)
        records.record(tmp_path / f"coop/eurosat/shots1_seed{seed}", method="coop", dataset="eurosat", seed=seed,
                       acc=80, shots=1)
        for ds, acc in (("dtd", 30 + seed), ("eurosat", 50)):
            records.record(tmp_path / f"zeroshot/{ds}/seed{seed}", method="zeroshot", dataset=ds, seed=seed,
                           acc=acc, shots=None)
    results, problems = load_results(tmp_path)
    assert problems == []
    tables = {t.slug: t for t in build_tables(results)}
    assert set(tables) == {"fewshot_1shots", "fewshot_2shots"}
    md1, md2 = to_markdown(tables["fewshot_1shots"]), to_markdown(tables["fewshot_2shots"])
    assert tables["fewshot_1shots"].columns == ["zeroshot", "coop"]  # the zero-shot reference comes first
    assert row(md1, "dtd") == ["32.00 ± 0.82", "42.00 ± 1.63"]
    assert row(md1, "eurosat") == ["50.00 ± 0.00", "80.00 ± 0.00"]
    assert row(md1, "Average") == ["41.00", "61.00"]
    # No 2-shot eurosat run: a gap, and coop's average covers dtd only (marked)
    assert row(md2, "dtd") == ["32.00 ± 0.82", "62.00 ± 1.63"]
    assert row(md2, "eurosat") == ["50.00 ± 0.00", GAP]
    assert row(md2, "Average") == ["41.00", "62.00*"]
    assert "ddof=0" in md2 and "fewer than all rows" in md2
    csv_text = to_csv(tables["fewshot_2shots"]).splitlines()
    assert csv_text[0] == "dataset,zeroshot,zeroshot std,zeroshot n,coop,coop std,coop n"
    assert csv_text[2] == "eurosat,50.0,0.0,3,,,"
    md_ddof1 = to_markdown(build_tables(results, ddof=1)[0])
    assert row(md_ddof1, "dtd") == ["32.00 ± 1.00", "42.00 ± 2.00"]


def test_fewer_seeds_are_flagged(tmp_path, records):
    for seed in (1, 2):
        records.record(tmp_path / f"a{seed}", method="coop", dataset="dtd", seed=seed, acc=50 + seed)
    records.record(tmp_path / "b1", method="coop", dataset="eurosat", seed=1, acc=70)
    md = to_markdown(build_tables(load_results(tmp_path)[0])[0])
    assert row(md, "eurosat") == ["70.00 ± 0.00†"]
    assert "fewer seeds" in md


def test_base2novel_hm_from_averaged_accuracies(tmp_path, records):
    # A: base 90, novel 30 -> HM 45; B: base 50, novel 50 -> HM 50.
    # Average: B=70, N=40 -> HM 2*70*40/110 = 50.91 (the mean of the HMs would be 47.50).
    for seed, (ba, na) in zip((1, 2), ((88, 28), (92, 32)), strict=True):
        run = records.record(tmp_path / f"coop/a/shots16_seed{seed}_base", method="coop", dataset="a", seed=seed,
                             acc=ba, subsample="base")
        records.eval(run, dataset="a", subsample="novel", acc=na)
        run = records.record(tmp_path / f"coop/b/shots16_seed{seed}_base", method="coop", dataset="b", seed=seed,
                             acc=50, subsample="base")
        records.eval(run, dataset="b", subsample="novel", acc=50)
        run = records.record(tmp_path / f"zeroshot/a/seed{seed}_base", method="zeroshot", dataset="a", seed=seed,
                             acc=60, subsample="base", shots=None)
        records.eval(run, dataset="a", subsample="novel", acc=40)
    tables = build_tables(load_results(tmp_path)[0])
    assert [t.slug for t in tables] == ["base2novel_16shots"]
    table = tables[0]
    assert table.columns == ["zeroshot Base", "zeroshot Novel", "zeroshot HM", "coop Base", "coop Novel", "coop HM"]
    md = to_markdown(table)
    assert row(md, "a") == ["60.00 ± 0.00", "40.00 ± 0.00", "48.00", "90.00 ± 2.00", "30.00 ± 2.00", "45.00"]
    assert row(md, "b") == [GAP, GAP, GAP, "50.00 ± 0.00", "50.00 ± 0.00", "50.00"]
    assert row(md, "Average") == ["60.00*", "40.00*", "48.00*", "70.00", "40.00", "50.91"]


def test_transfer_table_averages_targets_only(tmp_path, records):
    for seed in (1, 2):
        run = records.record(tmp_path / f"coop/imagenet/shots16_seed{seed}", method="coop", dataset="imagenet",
                             seed=seed, acc=70)
        records.eval(run, dataset="caltech101", acc=90 + seed)
        records.eval(run, dataset="dtd", acc=40)
        records.eval(run, dataset="dtd", subsample="all", split="val", acc=1)  # other splits are ignored
    tables = {t.slug: t for t in build_tables(load_results(tmp_path)[0])}
    assert set(tables) == {"fewshot_16shots", "transfer_imagenet_16shots"}
    md = to_markdown(tables["transfer_imagenet_16shots"])
    assert row(md, "imagenet (source)") == ["70.00 ± 0.00"]
    assert row(md, "caltech101") == ["91.50 ± 0.50"]
    assert row(md, "Average") == ["65.75"]


def test_sweep_label_names_the_column(tmp_path, records):
    records.record(tmp_path / "r1", method="coop", dataset="dtd", seed=1, acc=50, label="coop_ctx4")
    records.record(tmp_path / "r2", method="coop", dataset="dtd", seed=1, acc=60, label="coop_ctx16")
    assert build_tables(load_results(tmp_path)[0])[0].columns == ["coop_ctx16", "coop_ctx4"]


def test_bad_files_are_warnings_not_crashes(tmp_path, records):
    records.record(tmp_path / "good", method="coop", dataset="dtd", seed=1, acc=50)
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "record.json").write_text("{not json")
    records.record(tmp_path / "copy", method="coop", dataset="dtd", seed=1, acc=50)  # same run twice
    results, problems = load_results(tmp_path)
    assert len(results) == 1
    assert any("corrupt" in p and "not a finished run record" in p for p in problems)
    assert any("same run" in p for p in problems)


def test_report_cli_writes_tables_and_plots(tmp_path, records, capsys):
    runs = tmp_path / "runs"
    for seed in (1, 2):
        for k in (1, 2):
            records.record(runs / f"coop/dtd/shots{k}_seed{seed}", method="coop", dataset="dtd", seed=seed,
                           acc=40 + k + seed, shots=k)
        records.record(runs / f"zeroshot/dtd/seed{seed}", method="zeroshot", dataset="dtd", seed=seed, acc=30,
                       shots=None)
        run = records.record(runs / f"coop/dtd/shots16_seed{seed}_base", method="coop", dataset="dtd", seed=seed,
                             acc=80, subsample="base")
        records.eval(run, dataset="dtd", subsample="novel", acc=60)
    assert report_main([str(runs), "--ddof", "1"]) == 0
    out = capsys.readouterr().out
    assert "### Few-shot accuracy (%), 1 shot" in out and "### Base-to-novel accuracy (%), 16 shots" in out
    written = {p.name for p in (runs / "report").iterdir()}
    assert written == {"report.md", "fewshot_1shots.csv", "fewshot_2shots.csv",
                       "base2novel_16shots.csv", "fewshot.png", "base2novel.png"}
    assert (runs / "report" / "fewshot.png").read_bytes()[:4] == b"\x89PNG"
    markdown, written_files, _ = make_report([str(runs)], None)
    assert written_files == [] and markdown.startswith("###")


def test_report_cli_errors_are_one_line(tmp_path, capsys):
    assert report_main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: no finished runs")
    assert report_main([str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
