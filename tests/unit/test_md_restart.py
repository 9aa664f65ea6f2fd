"""Rule md's engine (python -m iceafm.md) killed with SIGKILL resumes from its checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time

import ase.io
import numpy as np

PARAMS = {
    "bilayers": 3,
    "supercell": [1, 1],
    "vacuum_a": 10.0,
    "melt_bilayers": 1,
    "temperatures_below_tm_k": [10.0],
    "trajectories_per_temperature": 1,
    "equilibration_ps": 4.0,
    "production_ps": 4.0,
    "frame_spacing_ps": 1.0,
    "timestep_fs": 2.0,
    "friction_per_ps": 1.0,
    "cutoff_a": 9.0,
}


def _command(folder):
    return [
        sys.executable, "-m", "iceafm.md", "--params", json.dumps(PARAMS), "--seed", "4",
        "--trajectory", "0", "--out", str(folder / "frames.extxyz"),
        "--checkpoint", str(folder / "state.npz"), "--checkpoint-every-ps", "1",
        "--platform", "CPU",
    ]  # fmt: skip


def test_a_killed_run_continues_from_its_checkpoint(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = tmp_path / "md.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(_command(tmp_path), stdout=out, stderr=out, env=env)
        deadline = time.monotonic() + 120
        # kill it after its third checkpoint (3 ps of 8), before it finishes
        while "step 1500/" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "frames.extxyz").exists()
    first = log.read_text()
    killed_at = max(int(line.split("step ")[1].split("/")[0]) for line in
                    first.splitlines() if "checkpoint written" in line)  # fmt: skip
    assert 1500 <= killed_at < 4000

    rerun = subprocess.run(_command(tmp_path), capture_output=True, text=True, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed from checkpoint at step {killed_at} " in rerun.stdout
    assert "start:" not in rerun.stdout  # no second equilibration from the lattice
    frames = ase.io.read(tmp_path / "frames.extxyz", index=":")
    assert [f.info["time_ps"] for f in frames] == [1.0, 2.0, 3.0, 4.0]
    assert [f.info["step"] for f in frames] == [2500, 3000, 3500, 4000]
    assert all(np.isfinite(f.positions).all() for f in frames)


def test_a_checkpoint_of_other_settings_is_not_reused(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    short = {**PARAMS, "equilibration_ps": 1.0, "production_ps": 1.0, "frame_spacing_ps": 1.0}
    command = _command(tmp_path)
    subprocess.run(command[:4] + [json.dumps(short)] + command[5:], check=True, env=env,
                   capture_output=True)  # fmt: skip
    changed = {**short, "temperatures_below_tm_k": [20.0]}
    proc = subprocess.run(command[:4] + [json.dumps(changed)] + command[5:], env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0
    assert "from other settings: starting afresh" in proc.stdout
    assert ase.io.read(tmp_path / "frames.extxyz").info["temperature_k"] == 250.0


def test_a_longer_production_grows_a_finished_run_and_a_shorter_one_cuts_it(tmp_path):
    """production_ps only says where a run stops: 2 ps continue a finished 1 ps run (its frames
    kept bit for bit), and asking for 1 ps again returns the first frames without any MD."""
    from iceafm.md.simulate import MDSettings, run_trajectory
    from iceafm.structures.ice_basal import basal_slab

    slab, bilayer = basal_slab((1, 1), 3, 10.0, genice_seed=3)

    def run(production_ps):
        lines = []
        settings = MDSettings(250.0, equilibration_ps=0.5, production_ps=production_ps,
                              frame_spacing_ps=0.5)  # fmt: skip
        frames = run_trajectory(slab, bilayer < 1, settings, 2, tmp_path / "c.npz", 0.5, "CPU",
                                log=lines.append)  # fmt: skip
        return frames, lines

    short, _ = run(1.0)
    grown, lines = run(2.0)
    assert lines[0].startswith("resumed from checkpoint at step 750 with 2 frames, z box")
    assert [f.info["time_ps"] for f in grown] == [0.5, 1.0, 1.5, 2.0]
    for a, b in zip(short, grown[:2], strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
    cut, lines = run(1.0)
    assert len(lines) == 1 and "resumed" in lines[0]  # nothing run, nothing written
    assert [f.info["step"] for f in cut] == [500, 750]
    np.testing.assert_array_equal(cut[1].positions, grown[1].positions)


def test_a_resumed_run_keeps_the_z_box_of_its_checkpoint(tmp_path, monkeypatch):
    """A checkpoint written under another box rule (a taller vacuum) continues in its own box:
    the frames after the restart stay where the slab is, not shifted by the change of box."""
    from iceafm.md import simulate
    from iceafm.structures.ice_basal import basal_slab

    slab, bilayer = basal_slab((1, 1), 3, 10.0, genice_seed=3)
    settings = dict(equilibration_ps=0.5, frame_spacing_ps=0.5)
    monkeypatch.setattr(simulate, "BOX_OVER_SLAB", 6.0)
    tall, _ = simulate.md_box_a(slab, 9.0)
    simulate.run_trajectory(slab, bilayer < 1, simulate.MDSettings(250.0, production_ps=0.5,
                            **settings), 2, tmp_path / "c.npz", 0.5, "CPU", log=print)  # fmt: skip
    monkeypatch.undo()
    box, _ = simulate.md_box_a(slab, 9.0)
    assert box[2] < tall[2] - 10.0  # the rule now gives a much lower box
    lines = []
    frames = simulate.run_trajectory(slab, bilayer < 1, simulate.MDSettings(250.0,
                                     production_ps=1.0, **settings), 2, tmp_path / "c.npz",
                                     0.5, "CPU", log=lines.append)  # fmt: skip
    assert lines[0].endswith(f"z box {tall[2]:.2f} A")
    free_o = np.flatnonzero(np.repeat(bilayer >= 1, 3))[::3]
    z = [f.positions[free_o, 2].mean() for f in frames]
    assert abs(z[1] - z[0]) < 1.0, z
