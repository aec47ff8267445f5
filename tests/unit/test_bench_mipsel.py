"""The emulated-mipsel bench's host-side parts, without the root: probe, comparison, table, marker.

The root itself (debootstrap, qemu-user) is ``make bench``'s job, never ``make test``'s.
"""

from __future__ import annotations

from pathlib import Path

from bench import mipsel, mipsel_root


def test_probe_measures_both_engines_at_a_tiny_n() -> None:
    out = mipsel.probe([20])
    assert out["pointer_bits"] in (32, 64)
    (row,) = out["sizes"]
    assert row["bindings"] == row["bound"] == 20
    assert row["lma_bytes_per_binding"] > 0
    assert row["mag_bytes_per_binding"] > 0


def test_comparison_pairs_figures_and_ratios() -> None:
    x86 = {
        "sizes": [
            {"bindings": 1000, "mag_bytes_per_binding": 2000.0, "lma_bytes_per_binding": 800}
        ],
        "heap_mb": 14.0,
        "import_s": 0.5,
        "ready_s": 0.7,
    }
    mips = {
        "sizes": [
            {"bindings": 1000, "mag_bytes_per_binding": 1100.0, "lma_bytes_per_binding": 400}
        ],
        "heap_mb": 7.0,
        "import_s": 5.0,
        "ready_s": None,  # the emulated daemon did not answer: no ratio
    }
    rows = {r["what"]: r for r in mipsel.compare(x86, mips)}
    assert rows["MAG bytes/binding at 1000"]["ratio"] == 0.55
    assert rows["LMA bytes/binding at 1000"]["ratio"] == 0.5
    assert rows["heap after imports (light)"]["ratio"] == 0.5
    assert rows["import daemon + plugins (light)"]["ratio"] == 10.0
    assert rows["import daemon + plugins (light)"]["emulated_time"]
    assert not rows["heap after imports (light)"]["emulated_time"]
    start = rows["start to status answered (light)"]
    assert start["mipsel"] is None and start["ratio"] is None

    lines = mipsel.table(list(rows.values()))
    assert lines[0].split() == ["figure", "unit", "x86_64", "mipsel", "mipsel/x86_64"]
    assert set(lines[1]) <= {"-", " "}
    mag = next(line for line in lines if line.startswith("MAG bytes/binding at 1000"))
    assert mag.split()[-3:] == ["2000", "1100", "0.550"]
    assert next(line for line in lines if line.startswith("start to status")).endswith("-")
    assert any(line.startswith("import daemon + plugins (light) *") for line in lines)
    assert lines[-1].startswith("* emulated time")


def test_root_argv_runs_python3_chrooted_with_the_project_importable(tmp_path: Path) -> None:
    argv = mipsel.root_python(tmp_path)
    assert argv[:4] == ["unshare", "--mount", "chroot", str(tmp_path)]
    assert "mount -t proc proc /proc" in argv[argv.index("-c") + 1]
    assert f"PYTHONPATH={mipsel.PYTHONPATH}" in argv
    assert argv[-1] == "/usr/bin/python3"


def test_a_root_is_reused_only_with_the_same_dependency_set(tmp_path: Path) -> None:
    assert not mipsel_root.is_ready(tmp_path)
    (tmp_path / mipsel_root.MARKER).write_text(mipsel_root.marker_text())
    assert mipsel_root.is_ready(tmp_path)
    (tmp_path / mipsel_root.MARKER).write_text("suite=bullseye\n")
    assert not mipsel_root.is_ready(tmp_path)
