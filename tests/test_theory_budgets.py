"""The memory law's budget C (r^2 d + L) and the n1 sweep (mgdd/theory/budgets.py)."""

import json

import pytest

from mgdd.theory.budgets import (
    law_allocation, law_cells, law_floats, law_verdicts, run_law_budget, run_law_headroom, run_n1_sweep,
    wilson_interval,
)
from mgdd.theory.study import StudyConfig

TINY = dict(base=(8, 1, 32), r_values=(1,), width_values=(32,), stage1_per_dim=64, stage2_samples=512,
            test_samples=500, steps=40, students=1, link="quadratic", reference_mse=0.3, tolerance=1.5,
            criterion="absolute", stage1_ladder=(4, 8), stage2_ladder=(16,))


@pytest.mark.parametrize("cell", [(32, 2, 512), (64, 1, 512), (256, 2, 512), (64, 4, 2048)])
def test_the_law_budget_is_split_as_the_laws_terms(cell):
    d, r, width = cell
    for c in (2.0, 4.0):
        points = law_allocation(c, *cell)
        k = min(4 * r, points["m1"], d)
        assert points["memory"] == points["m1"] * (d + 1) + points["m2"] * (k + 1)
        assert points["m1"] * (d + 1) == pytest.approx(c * r * r * d, rel=0.2)  # stage A: C r^2 d
        assert points["m2"] * (k + 1) == pytest.approx(c * width, rel=0.05)     # stage B: C L
        assert points["memory"] == pytest.approx(c * law_floats(*cell), rel=0.1)
    assert law_allocation(0.01, 64, 1, 16) == {"m1": 1, "m2": 1, "memory": 65 + 2}  # at least a point each


def test_wilson_interval_at_the_edges_and_in_between():
    low, high = wilson_interval(5, 5)
    assert high == 1.0 and low == pytest.approx(0.566, abs=1e-3)
    low, high = wilson_interval(0, 5)
    assert low == 0.0 and high == pytest.approx(0.434, abs=1e-3)
    low, high = wilson_interval(3, 5)
    assert low < 0.6 < high and high - low < wilson_interval(1, 2)[1] - wilson_interval(1, 2)[0]
    assert wilson_interval(0, 0) == (0.0, 1.0)


def _cells(rates: dict[tuple[int, int, int], int], teachers: int = 5) -> list[dict]:
    cells = []
    for (d, r, width), passed in rates.items():
        low, high = wilson_interval(passed, teachers)
        cells.append({"d": d, "r": r, "width": width, "pass_low": low, "pass_high": high})
    return cells


def test_law_verdicts_tell_a_fall_with_the_budget_from_one_at_the_small_end():
    config = StudyConfig(base=(64, 2, 512), d_values=(32, 64, 128), r_values=(1, 2), width_values=(256, 512))
    calibration = law_cells(config)[0]
    assert calibration == (64, 2, 256)  # the smallest r^2 d + L
    everywhere = {(32, 2, 512): 5, (64, 2, 512): 5, (128, 2, 512): 5, (64, 1, 512): 4, (64, 2, 256): 5}
    assert set(law_verdicts(_cells(everywhere), calibration, config).values()) == {"holds"}
    large_d_fails = {**everywhere, (128, 2, 512): 0}
    verdicts = law_verdicts(_cells(large_d_fails), calibration, config)
    assert verdicts["d"] == "falls as the budget grows: refuted" and verdicts["r"] == verdicts["width"] == "holds"
    small_r_fails = {**everywhere, (64, 1, 512): 0}
    assert law_verdicts(_cells(small_r_fails), calibration, config)["r"] == "falls at the small end"


def test_law_budget_calibrates_c_gives_every_cell_its_budget_and_resumes(tmp_path):
    config = StudyConfig(d_values=(8, 16), teachers=2, **TINY)
    run = {"command": "python benchmarks/theory_multi_index.py --part law", "date": "2026-12-07", "machine": "test"}
    first = run_law_budget(tmp_path, config, progress=False, run=run)
    assert first["calibration_cell"] == [8, 1, 32] and first["c"] in first["c_ladder"]
    assert first["calibration"][str(first["c"])] == [True, True]  # C passes every teacher where it was set
    smaller = [c for c in first["c_ladder"] if c < first["c"] and str(c) in first["calibration"]]
    assert all(not all(first["calibration"][str(c)]) for c in smaller)  # and no smaller tried C did
    by_d = {c["d"]: c for c in first["cells"]}
    assert by_d[16]["memory"] == law_allocation(first["c"], 16, 1, 32)["memory"] and by_d[16]["teachers"] == 2
    assert by_d[8]["passed"] == 2 and by_d[8]["mse_ratio"] > 0
    # a finished trial is read back, not recomputed
    partial = json.loads((tmp_path / "partial-law.json").read_text())
    key = f"(16, 1, 32)/1/C={first['c']}"
    partial["found"][key]["passes"] = not partial["found"][key]["passes"]
    (tmp_path / "partial-law.json").write_text(json.dumps(partial))
    again = run_law_budget(tmp_path, config, progress=False, run=run)
    assert {c["d"]: c for c in again["cells"]}[16]["passed"] == by_d[16]["passed"] + (1 if partial["found"][key]["passes"] else -1)
    text = (tmp_path / "budgets.md").read_text()
    assert "## The law's budget C (r^2 d + L)" in text and "`python benchmarks/theory_multi_index.py --part law`" in text
    assert "| 16 | 1 | 32 | 48 |" in text


def test_n1_sweep_searches_each_real_budget_per_teacher(tmp_path):
    config = StudyConfig(d_values=(8,), teachers=2, **TINY)
    results = run_n1_sweep(tmp_path, cell=(8, 1, 32), sizes=(256, 1024), config=config, progress=False)
    assert [row["stage1_size"] for row in results["rows"]] == [256, 1024]
    assert all(len(row["per_teacher"]) == 2 for row in results["rows"])
    # more real points give the full-data student a lower test MSE
    assert results["rows"][1]["full_mse"] < results["rows"][0]["full_mse"]
    partial = json.loads((tmp_path / "partial-n1.json").read_text())
    assert sorted(partial["found"]) == ["1024/0", "1024/1", "256/0", "256/1"]
    assert "M1 against the real stage-1 points at d=8, r=1, L=32" in (tmp_path / "budgets.md").read_text()


def test_a_resplit_keeps_the_total_and_fails_clearly_where_stage_b_has_nothing_left():
    law = law_allocation(6.0, 64, 2, 2048)
    resplit = law_allocation(6.0, 64, 2, 2048, stage_a_factor=2.0)
    assert resplit["m1"] == 2 * law["m1"] and resplit["m2"] < law["m2"]
    assert resplit["memory"] <= 6.0 * law_floats(64, 2, 2048) < resplit["memory"] + 2 * 9  # the total, to a point
    with pytest.raises(ValueError, match="no stage-B point"):
        law_allocation(6.0, 256, 2, 512, stage_a_factor=2.0)  # stage A's share is most of the total at d = 256


def test_headroom_probes_the_failing_teachers_of_the_cells_that_fall(tmp_path):
    config = StudyConfig(d_values=(8, 16), teachers=5, **TINY)  # 0 / 5 lies below 5 / 5 (Wilson), 0 / 2 not below 2 / 2
    with pytest.raises(FileNotFoundError, match="--part law"):
        run_law_headroom(tmp_path, config, progress=False)
    law = run_law_budget(tmp_path, config, progress=False)
    assert law["cells"][0]["passed"] == 5  # the calibration cell, d = 8
    # make d = 16 fall: every teacher fails at C (the trials as recorded, their stage A marked failing)
    partial = json.loads((tmp_path / "partial-law.json").read_text())
    for t in range(5):
        found = partial["found"][f"(16, 1, 32)/{t}/C={law['c']}"]
        found.update(passes=False, passes_a=False)
    (tmp_path / "partial-law.json").write_text(json.dumps(partial))
    run_law_budget(tmp_path, config, progress=False)
    headroom = run_law_headroom(tmp_path, config, teachers=1, multiples=(2.0,), progress=False)
    assert [(r["d"], r["teacher"]) for r in headroom["rows"]] == [(16, 0)]  # d = 8 holds; one teacher per cell
    probes = headroom["rows"][0]["probes"]
    assert probes[-1]["c"] == 2 * law["c"] and probes[-1]["m1"] > law_allocation(law["c"], 16, 1, 32)["m1"]
    assert all(p["memory"] > 0 and p["mse_a"] > 0 for p in probes)
    text = (tmp_path / "budgets.md").read_text()
    assert "## Headroom of the cells that fall" in text and "| 16 | 1 | 32 | 0 |" in text and "2 C (M1" in text
    # cached only: the probes that ran are reported (the re-split), one that did not run is pending
    assert probes[0]["stage_a_factor"] == 2.0 and probes[-1]["stage_a_factor"] == 1.0
    cached = run_law_headroom(tmp_path, config, teachers=1, multiples=(3.0,), progress=False, compute=False)
    row = cached["rows"][0]
    assert row["probes"] == probes[:1] and row["pending"] == ["3 C"]
    assert "3 C: still to run" in (tmp_path / "budgets.md").read_text()
