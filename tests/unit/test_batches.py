"""Stable batches of samples and the pending-member logic of a batch job (iceafm.batches)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iceafm.batches import (
    Member,
    batch_from_rule_name,
    block_rule_name,
    make_batches,
    member_seconds,
    run_batch,
    stamp_path,
)
from iceafm.dft.batch import batch_jobs, job_step_targets
from iceafm.io.atomic import write_text_atomic


def _ids(family: str, n: int) -> list[str]:
    return [f"{family}-{i:05d}" for i in range(n)]


def test_membership_is_index_div_size_whatever_the_count() -> None:
    small = {b.name: b.members for b in make_batches(_ids("ice_basal", 5), 2)}
    large = {b.name: b.members for b in make_batches(_ids("ice_basal", 7), 2)}
    assert small == {
        "ice_basal_00000": ("ice_basal-00000", "ice_basal-00001"),
        "ice_basal_00002": ("ice_basal-00002", "ice_basal-00003"),
        "ice_basal_00004": ("ice_basal-00004",),
    }
    # Growing the family fills the last batch and opens a new one; full batches are unchanged.
    assert {k: large[k] for k in small if k != "ice_basal_00004"} == {
        k: v for k, v in small.items() if k != "ice_basal_00004"
    }
    assert large["ice_basal_00004"] == ("ice_basal-00004", "ice_basal-00005")
    assert large["ice_basal_00006"] == ("ice_basal-00006",)


def test_a_partly_existing_block_splits_and_imports_are_one_batch_each() -> None:
    samples = _ids("premelt", 4) + _ids("import", 2)
    batches = make_batches(samples, 100, existing={"premelt-00000", "premelt-00001"})
    assert sorted((b.name, b.members) for b in batches) == [
        ("import_00000", ("import-00000",)),
        ("import_00001", ("import-00001",)),
        ("premelt_00000", ("premelt-00000", "premelt-00001")),
        ("premelt_00002", ("premelt-00002", "premelt-00003")),
    ]
    with pytest.raises(ValueError, match="batch size"):
        make_batches(samples, 0)
    with pytest.raises(ValueError, match="expected '<family>-<index>'"):
        make_batches(["nodash"], 2)


@pytest.fixture
def batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Three members whose input is a text file and output its upper-cased copy."""
    monkeypatch.chdir(tmp_path)
    members = []
    for i in range(3):
        source = tmp_path / f"in{i}.txt"
        source.write_text(f"sample {i}")
        members.append(Member(f"fam-{i:05d}", (str(tmp_path / f"out{i}.txt"),), (str(source),)))
    log = tmp_path / "logs" / "stage" / "fam_00000.log"
    calls: list[str] = []

    def compute(member: Member) -> None:
        calls.append(member.sample)
        text = Path(member.inputs[0]).read_text().upper()
        write_text_atomic(member.outputs[0], text)

    return members, log, calls, compute


def test_only_pending_members_are_computed(batch) -> None:
    members, log, calls, compute = batch
    assert run_batch(members[:2], {"k": 1}, log, compute).computed == ("fam-00000", "fam-00001")
    # The batch grows by one member: only the new one runs.
    report = run_batch(members, {"k": 1}, log, compute)
    assert (report.computed, report.kept) == (("fam-00002",), ("fam-00000", "fam-00001"))
    # An input changed in content: only its member reruns.
    Path(members[1].inputs[0]).write_text("changed")
    assert run_batch(members, {"k": 1}, log, compute).computed == ("fam-00001",)
    assert Path(members[1].outputs[0]).read_text() == "CHANGED"
    # New settings: every member; nothing pending (code change, --forcerun): every member too.
    assert len(run_batch(members, {"k": 2}, log, compute).computed) == 3
    assert len(run_batch(members, {"k": 2}, log, compute).computed) == 3
    stamps = json.loads(stamp_path(log).read_text())
    assert sorted(stamps) == [m.sample for m in members]
    assert stamp_path(log) == Path("results/.batches/stage/fam_00000.json")
    assert len(member_seconds(".")["stage"]) == 3


def test_a_killed_batch_keeps_what_it_finished(batch) -> None:
    members, log, calls, compute = batch

    def dies_on_the_second(member: Member) -> None:
        if member.sample == "fam-00001":
            raise KeyboardInterrupt  # as a SIGTERM'd job would stop
        compute(member)

    with pytest.raises(KeyboardInterrupt):
        run_batch(members, {"k": 1}, log, dies_on_the_second)
    assert calls == ["fam-00000"]
    assert Path(members[0].outputs[0]).exists() and not Path(members[1].outputs[0]).exists()
    # The retry computes the other two and keeps the finished one.
    report = run_batch(members, {"k": 1}, log, compute)
    assert report.kept == ("fam-00000",)
    assert report.computed == ("fam-00001", "fam-00002")


def test_unfinished_members_get_no_stamp_and_is_current_overrides_a_stamp(batch) -> None:
    members, log, calls, compute = batch

    def second_unfinished(member: Member) -> bool:
        if member.sample == "fam-00001":
            return False  # e.g. a DFT member whose SCF must be retried
        compute(member)
        return True

    report = run_batch(members, {"k": 1}, log, second_unfinished)
    assert report.unfinished == ("fam-00001",)
    assert report.computed == ("fam-00000", "fam-00002")  # the batch went on
    assert "fam-00001" not in json.loads(stamp_path(log).read_text())
    # The retry computes the unfinished member only.
    assert run_batch(members, {"k": 1}, log, compute).computed == ("fam-00001",)
    # With is_current, the outputs' own record decides instead of the stamps: a member whose
    # record is stale is recomputed although its stamp matches, and one with no stamp (here:
    # new settings) is kept when its record is current.
    report = run_batch(
        members, {"k": 2}, log, compute, is_current=lambda m: m.sample != "fam-00002"
    )
    assert (report.computed, report.kept) == (("fam-00002",), ("fam-00000", "fam-00001"))


def test_rule_names_of_split_blocks_say_their_members() -> None:
    samples = [f"fam-{i:05d}" for i in range(7)] + ["import-00000", "import-00001"]
    existing = {"fam-00000", "fam-00002", "fam-00004"}
    blocks = {(b.family, b.first): b.members for b in make_batches(samples, 4)}
    names = {}
    for batch in make_batches(samples, 4, existing=existing):
        first = batch.first // 4 * 4 if batch.family == "fam" else batch.first
        block = blocks[(batch.family, first)]
        names[block_rule_name(batch, 4, block)] = batch
    # block 0 split into {0, 2} (mask 0b0101) and {1, 3} (0b1010); block 1 into {4} and {5, 6}
    assert sorted(names) == [
        "fam_00000_m5", "fam_00001_ma", "fam_00004_m1", "fam_00005_m6", "import_00000",
        "import_00001",
    ]  # fmt: skip
    for name, batch in names.items():
        assert batch_from_rule_name(name, 4, samples) == batch
    assert batch_from_rule_name("fam_00004", 4, samples).members == (
        "fam-00004", "fam-00005", "fam-00006",
    )  # fmt: skip
    with pytest.raises(ValueError, match="not samples of this campaign"):
        batch_from_rule_name("fam_00008", 4, samples)


def test_a_job_step_takes_its_dft_batches_from_its_target_names() -> None:
    samples = [f"fam-{i:05d}" for i in range(4)]
    # the planning process: block 0 = {0, 1} split ({0} exists), block 1 = {2, 3} whole
    planned = dict(batch_jobs(samples, 2, existing={"fam-00000"}))
    assert sorted(planned) == ["fam_00000_m1", "fam_00001_m2", "fam_00002"]
    # a job step for the new member's batch, started after fam-00001 finished as well: the
    # files now say block 0 is whole, its command line says which batch it runs
    argv = ["snakemake", "--target-jobs", "dft__fam_00001_m2:", "--allowed-rules", "x"]
    assert job_step_targets(argv) == ["dft__fam_00001_m2"]
    steps = batch_jobs(samples, 2, {"fam-00000", "fam-00001"}, job_step_targets(argv))
    assert steps == [("fam_00001_m2", planned["fam_00001_m2"])]
    assert job_step_targets(["snakemake", "-n"]) == []
