"""Structure overview figure: writes a non-empty PNG and PDF pair."""

from iceafm.figures.structures import plot_structures
from iceafm.structures import generate_structure, write_structure


def test_plot_writes_png_and_pdf(tmp_path):
    ice = {"count": 1, "bilayers": 2, "supercell": [1, 1], "vacuum_a": 10.0}
    cu = {"count": 1, "metal": "Cu", "surface_size": [3, 4, 2], "height_a": 2.6, "vacuum_a": 8.0}
    paths = []
    for family, params in (("ice_basal", ice), ("bilayer_metal", cu)):
        path = tmp_path / f"{family}-00000.extxyz"
        write_structure(generate_structure(family, 0, params, seed=1), path)
        paths.append(str(path))
    plot_structures(paths, tmp_path / "fig" / "structures.pdf")
    png, pdf = tmp_path / "fig" / "structures.png", tmp_path / "fig" / "structures.pdf"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in png.parent.iterdir()) == ["structures.pdf", "structures.png"]
