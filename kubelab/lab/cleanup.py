"""Find and remove everything a lab created, with or without its records.

`kubelab down` must leave nothing behind even after a crash or a `kill -9` of the CLI, so it does
not trust records alone: it scans the kernel for objects carrying the lab's prefix
(`<name>-`, see kubelab.lab.spec.kernel_prefix; netlab's naming) and removes them:

- network namespaces `<name>-*` (machines and pods, first killing the processes inside) and the
  host's links `<name>-*` (the LAN bridge, host-side veth ends, any vxlan): netlab's
  `clean_prefix`, which scans for them whether or not netlab has a record of the lab;
- iptables chains `<name>-*` in every table, after deleting the rules that jump to them, and
  rules elsewhere that match the lab's interfaces (`-i/-o <name>-*`) or carry its comment
  (`netlab:<name>`, or one starting with the prefix);
- mounts under the lab's directory (deepest first);
- cgroups `/sys/fs/cgroup/<controller>/<name>-*` (the kubelets' `--cgroup-parent`; processes
  killed, deepest first);
- the kubelets' runtime directories on a tmpfs (`/run/kubelab/kubelet/<hash>` or
  `/dev/shm/kubelab/kubelet/<hash>`, the default `--runtime-dir`) whose `root-dir` file names
  a directory under the lab's directory.

`select()` is pure: what else to remove, given what was observed. `observe()` and `remove()` are
the edge (iptables, /proc, /sys).

Never widen the prefix: `select` refuses anything but a whole lab prefix, so no call can match
another lab's objects (names have no hyphen: `ab-` is not a prefix of `abc-...`, and no lab
is named `a-b`) or the host's own. Test fixtures' `klt<hex>-` objects are 9 characters before
the hyphen, longer than any lab name, so no lab prefix matches them.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from pyroute2.netlink.exceptions import NetlinkError

from netlab import lifecycle as netlab
from netlab import nsfs
from netlab.errors import NetlabError

log = logging.getLogger(__name__)

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,7}-$")
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# The kubelet's default --runtime-dir parents and owner file (node_agent.kubelet.rundir).
KUBELET_RUN_ROOTS = (Path("/run/kubelab/kubelet"), Path("/dev/shm/kubelab/kubelet"))  # noqa: S108
RUN_OWNER_FILE = "root-dir"
# Options whose value is a chain or interface name.
_NAME_OPTIONS = frozenset(
    ("-j", "--jump", "-g", "--goto", "-i", "--in-interface", "-o", "--out-interface")
)


@dataclass(frozen=True)
class Observed:
    """What the system has now (possibly far more than the lab's objects)."""

    iptables: tuple[tuple[str, str], ...] = ()  # (table, iptables-save output)
    mounts: tuple[str, ...] = ()
    cgroups: tuple[str, ...] = ()
    run_dirs: tuple[tuple[str, str], ...] = ()  # (kubelet runtime dir, the root dir it names)


@dataclass(frozen=True)
class RuleDelete:
    table: str
    chain: str
    args: tuple[str, ...]

    def argv(self) -> list[str]:
        return ["iptables", "-w", "-t", self.table, "-D", self.chain, *self.args]


@dataclass(frozen=True)
class CleanupPlan:
    netns: tuple[str, ...] = ()  # removed by netlab (see clean), for the report
    links: tuple[str, ...] = ()
    rules: tuple[RuleDelete, ...] = ()
    chains: tuple[tuple[str, str], ...] = ()  # (table, chain)
    mounts: tuple[str, ...] = ()
    cgroups: tuple[str, ...] = ()
    run_dirs: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.netns
            or self.links
            or self.rules
            or self.chains
            or self.mounts
            or self.cgroups
            or self.run_dirs
        )

    def summary(self) -> str:
        parts = [
            f"{len(self.netns)} netns",
            f"{len(self.links)} links",
            f"{len(self.chains)} iptables chains",
            f"{len(self.rules)} iptables rules",
            f"{len(self.mounts)} mounts",
            f"{len(self.cgroups)} cgroups",
            f"{len(self.run_dirs)} kubelet runtime dirs",
        ]
        return ", ".join(parts)


@dataclass
class CleanupReport:
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def check_prefix(prefix: str) -> str:
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"refusing to clean by prefix {prefix!r}: not a lab prefix <name>-")
    return prefix


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _rule_is_lab(prefix: str, tokens: Sequence[str]) -> bool:
    for i, tok in enumerate(tokens[:-1]):
        if tok in _NAME_OPTIONS and tokens[i + 1].lstrip("!").startswith(prefix):
            return True
    comment = f"netlab:{prefix[:-1]}"
    return any(tok == comment or tok.startswith(prefix) for tok in tokens)


def select_iptables(prefix: str, table: str, save: str) -> tuple[list[RuleDelete], list[str]]:
    """Rules to delete (outside lab chains) and lab chains to flush and delete, for one table."""
    chains: list[str] = []
    rules: list[RuleDelete] = []
    for line in save.splitlines():
        if line.startswith(":"):
            name = line[1:].split()[0]
            if name.startswith(prefix):
                chains.append(name)
        elif line.startswith("-A "):
            tokens = shlex.split(line)
            chain, args = tokens[1], tuple(tokens[2:])
            if not chain.startswith(prefix) and _rule_is_lab(prefix, args):
                rules.append(RuleDelete(table, chain, args))
    return rules, chains


def select(prefix: str, lab_dir: Path, observed: Observed) -> CleanupPlan:
    """Everything in `observed` that belongs to the lab with `prefix` and directory `lab_dir`."""
    check_prefix(prefix)
    rules: list[RuleDelete] = []
    chains: list[tuple[str, str]] = []
    for table, save in observed.iptables:
        table_rules, table_chains = select_iptables(prefix, table, save)
        rules += table_rules
        chains += [(table, c) for c in table_chains]
    root = str(lab_dir)
    mounts = sorted(
        (m for m in observed.mounts if _under(m, root)), key=lambda m: (-m.count("/"), m)
    )
    cgroups = sorted(
        (c for c in observed.cgroups if Path(c).name.startswith(prefix)),
        key=lambda c: (-c.count("/"), c),
    )
    run_dirs = sorted(d for d, owner in observed.run_dirs if _under(owner, root))
    return CleanupPlan(
        rules=tuple(rules),
        chains=tuple(chains),
        mounts=tuple(mounts),
        cgroups=tuple(cgroups),
        run_dirs=tuple(run_dirs),
    )


# -- edge --------------------------------------------------------------------------------------


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True)


def _unescape_mount(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def observe(prefix: str) -> Observed:
    """Scan the host for candidates (the lab's, and others' that `select` will leave alone)."""
    check_prefix(prefix)
    tables = []
    for table in IPTABLES_TABLES:
        saved = _run(["iptables-save", "-t", table])
        if saved.returncode == 0:
            tables.append((table, saved.stdout))
    mounts = []
    with suppress(OSError), open("/proc/self/mountinfo") as info:
        mounts = [_unescape_mount(line.split()[4]) for line in info if line.strip()]
    cgroups = []
    if CGROUP_ROOT.is_dir():
        for controller in CGROUP_ROOT.iterdir():
            with suppress(OSError):
                cgroups += [
                    str(d) for d in controller.iterdir() if d.is_dir() and d.name.startswith(prefix)
                ]
    return Observed(
        iptables=tuple(tables),
        mounts=tuple(mounts),
        cgroups=tuple(cgroups),
        run_dirs=tuple(d for base in KUBELET_RUN_ROOTS for d in _kubelet_run_dirs(base)),
    )


def _remove_empty_run_roots() -> None:
    """`<base>/kubelab/kubelet` and `<base>/kubelab` once no lab's kubelet uses them; a directory
    still holding another lab's runtime dir stays (rmdir refuses)."""
    for root in KUBELET_RUN_ROOTS:
        for d in (root, root.parent):
            with suppress(OSError):
                d.rmdir()


def _kubelet_run_dirs(base: Path) -> list[tuple[str, str]]:
    """(runtime dir, the root dir its owner file names) for every kubelet runtime dir."""
    found = []
    with suppress(OSError):
        for d in base.iterdir():
            with suppress(OSError):
                found.append((str(d), (d / RUN_OWNER_FILE).read_text().strip()))
    return found


def _kill_pids(pids: Sequence[str]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _step(report: CleanupReport, what: str, argv: Sequence[str], ok_errors: Sequence[str]) -> None:
    """Run one removal; "already gone" errors count as success (idempotent down)."""
    done = _run(argv)
    if done.returncode == 0 or any(e in done.stderr for e in ok_errors):
        report.removed.append(what)
    else:
        report.failed.append(f"{what}: {done.stderr.strip() or f'exit {done.returncode}'}")


def _remove_cgroup_tree(root: str, report: CleanupReport, timeout: float = 5.0) -> None:
    # Children before parents; a cgroup can only go once no process is left in it, and a
    # killed process leaves its cgroup a moment after the signal.
    for dirpath, _dirs, _files in sorted(os.walk(root, topdown=False), key=lambda w: -len(w[0])):
        deadline = time.monotonic() + timeout
        while True:
            try:
                pids = Path(dirpath, "cgroup.procs").read_text().split()
            except OSError:
                pids = []
            _kill_pids(pids)
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    report.failed.append(f"cgroup {dirpath}: {exc}")
                    return
                time.sleep(0.02)
    report.removed.append(f"cgroup {root}")


def remove(plan: CleanupPlan) -> CleanupReport:
    """Carry out `plan` (all but its namespaces and links, which netlab removed); keeps going
    past failures and reports them all."""
    report = CleanupReport()
    gone = ("No such file", "Cannot find device", "does not exist", "No chain/target/match")
    for rule in plan.rules:
        _step(report, f"iptables rule {rule.table}/{rule.chain}", rule.argv(), gone)
    for table, chain in plan.chains:
        _step(
            report,
            f"iptables flush {table}/{chain}",
            ["iptables", "-w", "-t", table, "-F", chain],
            gone,
        )
    for table, chain in plan.chains:
        _step(
            report,
            f"iptables chain {table}/{chain}",
            ["iptables", "-w", "-t", table, "-X", chain],
            gone,
        )
    for mount in plan.mounts:
        _step(report, f"mount {mount}", ["umount", "-l", mount], ("not mounted", "no mount point"))
    for cgroup in plan.cgroups:
        _remove_cgroup_tree(cgroup, report)
    for run_dir in plan.run_dirs:
        shutil.rmtree(run_dir, ignore_errors=True)
        report.removed.append(f"runtime dir {run_dir}")
    if plan.run_dirs:
        _remove_empty_run_roots()
    for line in report.failed:
        log.warning("cleanup failed %s", line)
    return report


def remove_machine(
    netns: str,
    others: Sequence[tuple[str, str]],
    all_netns: Sequence[str],
    machine_dir: Path | None = None,
) -> CleanupReport:
    """Remove one machine of a running lab: its namespace and its pods' (`<netns>-*`), its
    kubelet's cgroups (`<netns>`, exactly), the routes to its pod subnet on the others
    (`others`: (netns, pod CIDR) pairs) and, given `machine_dir`, its kubelet's runtime dirs
    (those naming a root dir under it). Its LAN veth goes with its namespace."""
    report = CleanupReport()
    gone = ("No such file", "Cannot find device", "does not exist")
    mine = [n for n in all_netns if n == netns or n.startswith(f"{netns}-")]
    report.removed += [f"netns {ns}" for ns in nsfs.remove_many(mine)]
    for other, cidr in others:
        _step(report, f"route {cidr} in {other}", ["ip", "-n", other, "route", "del", cidr],
              (*gone, "No such process"))  # fmt: skip
    if CGROUP_ROOT.is_dir():
        for controller in CGROUP_ROOT.iterdir():
            if (controller / netns).is_dir():
                _remove_cgroup_tree(str(controller / netns), report)
    if machine_dir is not None:
        for run_dir, owner in (d for base in KUBELET_RUN_ROOTS for d in _kubelet_run_dirs(base)):
            if _under(owner, str(machine_dir)):
                shutil.rmtree(run_dir, ignore_errors=True)
                report.removed.append(f"runtime dir {run_dir}")
        _remove_empty_run_roots()
    return report


def clean(prefix: str, lab_dir: Path) -> tuple[CleanupPlan, CleanupReport]:
    """Remove every kernel object of the lab; see the module docstring. Namespaces (with every
    process inside: pods outlive a stopped kubelet, as upstream) and links go through netlab,
    which also drops its record of the lab; the rest is observed, selected and removed here."""
    check_prefix(prefix)
    try:
        removed = netlab.clean_prefix(prefix[:-1])
        network = CleanupPlan(netns=removed.namespaces, links=removed.links)
        failed = []
    except (OSError, NetlinkError, NetlabError) as exc:  # the rest still goes; report
        network, failed = CleanupPlan(), [f"netlab clean {prefix[:-1]}: {exc}"]
    plan = replace(select(prefix, lab_dir, observe(prefix)), netns=network.netns,
                   links=network.links)  # fmt: skip
    report = remove(plan)
    report.failed = failed + report.failed
    return plan, report
