"""A single-node SLURM cluster for the test suite, started and stopped by hand (no systemd).

Everything lives in one folder (default ``$TMPDIR/iceafm-slurm``, or ``ICEAFM_SLURM_DIR``):
generated ``slurm.conf``, a fresh munge key, state, spool, logs and pid files. Clients reach
the cluster only through ``SLURM_CONF`` (see :meth:`SlurmCluster.env`), so nothing system-wide
is read or written. Daemons listen on free ports on 127.0.0.1 and are stopped by the pid they
wrote; a crashed earlier run is cleaned up first (its daemons stopped, stale pid files removed).

Command line (for debugging by hand)::

    python tests/slurm/cluster.py start   # prints the export line for SLURM_CONF
    python tests/slurm/cluster.py stop
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

SLURM_BINARIES = ("slurmctld", "slurmd", "munged", "srun", "sbatch", "squeue", "scancel", "sinfo")

# Jobs must stay visible to `squeue --states=all` long after they end, because the plugin's
# squeue status polling (there is no slurmdbd here) only sees jobs younger than MinJobAge, and
# it falls back to the (failing) sacct unless MinJobAge >= 3 x the first status-check delay.
MIN_JOB_AGE_S = 900
MEMORY_MARGIN_MB = 2048

REPO = Path(__file__).resolve().parents[2]

# What a site without slurmdbd, in a hurry, adds to `--profile profiles/slurm`: squeue status
# polling (sacct fails here) and a short first status check. Partitions need no override: the
# test cluster's are named like the profile's (cpu, gpu).
SITE_OVERRIDES = (
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "3",
    "--max-status-checks-per-second", "1",
)  # fmt: skip


class ClusterError(RuntimeError):
    """The test cluster could not be started or stopped."""


def slurm_available() -> bool:
    """True when every daemon and client the test cluster needs is on PATH (or in sbin)."""
    return all(_which(name) for name in SLURM_BINARIES)


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _total_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise ClusterError("/proc/meminfo: no MemTotal line")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class SlurmCluster:
    """One slurmctld + one slurmd (NodeName=localhost) + one munged, all owned by this object.

    ``cpus`` is the node's CPU count (at least 2, so a 2-rank MPI DFT job fits) and
    ``real_memory_mb`` its memory in MB (physical memory minus a 2 GB margin).
    """

    def __init__(self, base_dir: str | os.PathLike | None = None) -> None:
        default = Path(tempfile.gettempdir()) / "iceafm-slurm"
        self.base_dir = Path(base_dir or os.environ.get("ICEAFM_SLURM_DIR", default))
        self.conf_path = self.base_dir / "etc" / "slurm.conf"
        self.jobcomp_log = self.base_dir / "log" / "jobcomp.txt"
        self.cpus = max(2, os.cpu_count() or 2)
        self.real_memory_mb = max(1024, _total_memory_mb() - MEMORY_MARGIN_MB)
        self.partitions = ("cpu", "gpu")
        self.node = "localhost"

    # ---------------------------------------------------------------- paths
    @property
    def _munge_dir(self) -> Path:
        return self.base_dir / "munge"

    @property
    def _munge_socket(self) -> Path:
        return self._munge_dir / "munge.socket"

    @property
    def _shim_dir(self) -> Path:
        return self.base_dir / "bin"

    def _pid_files(self) -> dict[str, Path]:
        return {
            "slurmd": self.base_dir / "run" / "slurmd.pid",
            "slurmctld": self.base_dir / "run" / "slurmctld.pid",
            "munged": self._munge_dir / "munged.pid",
        }

    def env(self) -> dict[str, str]:
        """Environment for clients (sbatch, squeue, snakemake): ``SLURM_CONF`` set, sbin on PATH."""
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.conf_path)
        env["PATH"] = f"{self._shim_dir}:{env.get('PATH', '')}:/usr/sbin:/sbin"
        for key in [k for k in env if k.startswith("SLURM_") and k != "SLURM_CONF"]:
            del env[key]
        return env

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout_s: float = 60.0) -> None:
        """Clean up any earlier run, write the configs, start the daemons, wait for an idle node."""
        if not slurm_available():
            raise ClusterError(f"missing SLURM/munge binaries; need all of {SLURM_BINARIES}")
        self.stop()
        if self.base_dir.exists():
            shutil.rmtree(self.base_dir)
        for sub in ("etc", "state", "spool", "log", "run", "bin"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        # munged runs as user munge and must traverse the path to its own folder.
        self.base_dir.chmod(0o755)
        self._start_munged()
        self._write_configs()
        self._write_srun_shim()
        env = self.env()
        self._run([_which("slurmctld"), "-f", str(self.conf_path)], env)
        self._run([_which("slurmd"), "-f", str(self.conf_path), "-N", self.node], env)
        self._wait_idle(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every daemon by the pid it wrote (slurmd, slurmctld, munged); remove pid files.

        A pid whose process is gone, or is no longer one of this cluster's daemons (checked via
        /proc/PID/cmdline), is treated as stale: its pid file is removed and nothing is killed.
        """
        for name, pid_file in self._pid_files().items():
            if not pid_file.exists():
                continue
            try:
                pid = int(pid_file.read_text().split()[0])
            except (ValueError, IndexError, OSError):
                pid_file.unlink(missing_ok=True)
                continue
            if _pid_alive(pid) and name in _cmdline(pid):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout_s
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if _pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
            pid_file.unlink(missing_ok=True)

    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- queries
    def completed_jobs(self) -> list[dict[str, str]]:
        """Records of the job-completion log (JobCompType=jobcomp/filetxt), one dict per job.

        Keys as SLURM writes them: JobId, JobName, JobState, ExitCode, NodeList, ...
        """
        if not self.jobcomp_log.exists():
            return []
        records = []
        for line in self.jobcomp_log.read_text().splitlines():
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            if fields:
                records.append(fields)
        return records

    def snakemake(
        self, args: list[str], timeout_s: int, profile: str = "profiles/slurm"
    ) -> subprocess.CompletedProcess[str]:
        """Run Snakemake from the repo root with ``--profile profile`` plus SITE_OVERRIDES.

        A hung Snakemake ignores SIGTERM, hence ``timeout -k``; after a failed or killed run the
        working directory is unlocked so the next run can start.
        """
        base = [sys.executable, "-m", "snakemake", "--profile", profile, *SITE_OVERRIDES, *args]
        env = self.env()
        env["OMP_NUM_THREADS"] = "1"
        proc = subprocess.run(
            ["timeout", "-k", "15", str(timeout_s), *base],
            cwd=REPO, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            subprocess.run([*base, "--unlock"], cwd=REPO, env=env, capture_output=True, check=False)
        return proc

    def job_records(self) -> dict[str, dict[str, str]]:
        """All jobs slurmctld still knows (MinJobAge), by job id: state, comment (rule_...)."""
        proc = subprocess.run(
            ["squeue", "--states=all", "--noheader", "--format=%i|%T|%k"],
            env=self.env(), capture_output=True, text=True, check=True,
        )  # fmt: skip
        records = {}
        for line in proc.stdout.splitlines():
            job_id, state, comment = line.strip().split("|", 2)
            records[job_id] = {"state": state, "comment": comment}
        return records

    def cancel(self, job_id: str) -> None:
        """scancel one job, as a user or an admin would mid-run."""
        subprocess.run(["scancel", job_id], env=self.env(), check=True)

    @contextlib.contextmanager
    def cancelling_first_running(
        self, comment_prefix: str, delay_s: float, timeout_s: float = 300.0
    ) -> Iterator[list[str]]:
        """While the block runs, scancel the first new job whose comment (Snakemake's
        ``rule_<name>_wildcards_...``) starts with ``comment_prefix``, ``delay_s`` after it
        is seen RUNNING (a kill mid-run). Yields the list that receives the cancelled job id."""
        known = set(self.job_records())
        cancelled: list[str] = []
        done = threading.Event()

        def watch() -> None:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and not done.is_set():
                for job_id, record in self.job_records().items():
                    new = job_id not in known and record["comment"].startswith(comment_prefix)
                    if new and record["state"] == "RUNNING":
                        time.sleep(delay_s)
                        self.cancel(job_id)
                        cancelled.append(job_id)
                        return
                time.sleep(1)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            yield cancelled
        finally:
            done.set()
            watcher.join()

    # ------------------------------------------------------------ internals
    def _start_munged(self) -> None:
        munge = pwd.getpwnam("munge")
        self._munge_dir.mkdir()
        # munged insists that everyone may traverse its socket folder; the key stays 0400.
        self._munge_dir.chmod(0o755)
        key = self._munge_dir / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o400)
        for path in (self._munge_dir, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        cmd = [
            _which("runuser"), "-u", "munge", "--", _which("munged"),
            f"--key-file={key}",
            f"--socket={self._munge_socket}",
            f"--pid-file={self._pid_files()['munged']}",
            f"--log-file={self._munge_dir / 'munged.log'}",
            f"--seed-file={self._munge_dir / 'munged.seed'}",
        ]  # fmt: skip
        self._run(cmd, self.env())

    def _write_configs(self) -> None:
        host = socket.gethostname().split(".")[0]
        run, log = self.base_dir / "run", self.base_dir / "log"
        (self.base_dir / "etc" / "plugstack.conf").write_text("")
        def_mem_per_cpu = self.real_memory_mb // self.cpus
        lines = [
            "ClusterName=iceafm-test",
            f"SlurmctldHost={host}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self._munge_socket}",
            f"StateSaveLocation={self.base_dir / 'state'}",
            f"SlurmdSpoolDir={self.base_dir / 'spool'}",
            f"SlurmctldPidFile={run / 'slurmctld.pid'}",
            f"SlurmdPidFile={run / 'slurmd.pid'}",
            f"SlurmctldLogFile={log / 'slurmctld.log'}",
            f"SlurmdLogFile={log / 'slurmd.log'}",
            f"PlugStackConfig={self.base_dir / 'etc' / 'plugstack.conf'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            # Without a default, a job with no --mem takes the whole node and jobs run serially.
            f"DefMemPerCPU={def_mem_per_cpu}",
            # Like most sites: a bare `srun -n N` starts OpenMPI ranks through PMIx.
            "MpiDefault=pmix",
            "ReturnToService=2",
            "MailProg=/bin/true",
            "SlurmdParameters=config_overrides",
            f"MinJobAge={MIN_JOB_AGE_S}",
            "KillWait=5",
            "InactiveLimit=0",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.jobcomp_log}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={self.real_memory_mb} State=UNKNOWN",
        ]
        # Named like the profile's partitions, so the profile runs here unchanged; "gpu" has no
        # GPU gres (the GPU rules are only rendered, never run, in the tests).
        lines += [
            f"PartitionName={name} Nodes={self.node} Default={'YES' if i == 0 else 'NO'} "
            "MaxTime=INFINITE State=UP"
            for i, name in enumerate(self.partitions)
        ]
        self.conf_path.write_text("\n".join(lines) + "\n")

    def _write_srun_shim(self) -> None:
        # The jobstep executor strips every SLURM_* variable (SLURM_CONF included) before its
        # nested `srun`; real clusters find /etc/slurm/slurm.conf or run configless, this one
        # lives only in base_dir. An srun first on PATH that restores SLURM_CONF fixes that.
        shim = self._shim_dir / "srun"
        shim.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf_path} exec {_which("srun")} "$@"\n')
        shim.chmod(0o755)

    def _run(self, cmd: list[str | None], env: dict[str, str]) -> None:
        if None in cmd:
            raise ClusterError(f"binary not found for command {cmd}")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ClusterError(
                f"{cmd[0]} exited {proc.returncode}: {proc.stderr.strip()} "
                f"(logs in {self.base_dir / 'log'}, {self._munge_dir})"
            )

    def _wait_idle(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        state = ""
        while time.monotonic() < deadline:
            proc = subprocess.run(
                ["sinfo", "--noheader", "--nodes", self.node, "--format=%T"],
                env=self.env(), capture_output=True, text=True, check=False,
            )  # fmt: skip
            state = proc.stdout.strip() or proc.stderr.strip()
            if proc.returncode == 0 and state == "idle":
                return
            time.sleep(0.5)
        raise ClusterError(
            f"node {self.node} not idle after {timeout_s} s (last sinfo: {state!r}); "
            f"see {self.base_dir / 'log'}"
        )


def main(argv: list[str]) -> int:
    """``cluster.py start|stop``: start prints the SLURM_CONF export line for a shell."""
    if len(argv) != 2 or argv[1] not in ("start", "stop"):
        print("usage: cluster.py start|stop", file=sys.stderr)
        return 2
    cluster = SlurmCluster()
    if argv[1] == "start":
        cluster.start()
        print(f"export SLURM_CONF={cluster.conf_path}")
    else:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
