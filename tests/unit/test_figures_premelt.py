"""The premelting figure: order profiles with each temperature's liquid cut, QLL over time."""

import matplotlib.image
import numpy as np

from iceafm.figures.premelt import plot_premelt
from iceafm.md.order import order_profile
from iceafm.structures.ice_basal import basal_slab


def test_the_time_panel_and_the_per_temperature_cuts_widen_the_figure(tmp_path):
    atoms, _ = basal_slab((1, 1), 3, 10.0, genice_seed=3)
    profile = order_profile(atoms)
    times = np.arange(5.0, 105.0, 5.0)
    series = {250.0: (times, np.linspace(0.5, 1.2, 20)),
              266.0: [(times, np.full(20, 1.3)), (times[:10], np.full(10, 1.1))]}  # two runs
    plot_premelt({250.0: profile, 266.0: profile}, atoms, "side", tmp_path / "with.png",
                 series=series, equilibration_ps=20.0,
                 q_cuts={250.0: 0.89, 266.0: 0.88})  # fmt: skip
    plot_premelt({250.0: profile}, atoms, "side", tmp_path / "without.png")
    wide = matplotlib.image.imread(tmp_path / "with.png").shape
    narrow = matplotlib.image.imread(tmp_path / "without.png").shape
    assert wide[1] / wide[0] > 2.8 > narrow[1] / narrow[0] > 2.2  # 13 x 4.4 in vs 10 x 4.2 in
