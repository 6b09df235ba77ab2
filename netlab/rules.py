"""iptables rules of a lab, rendered as `iptables-restore --noflush` text. Pure.

Inside a lab namespace netlab owns the chains `NL-PRE`, `NL-POST` (NAT) and `NL-FAULT`
(partitions and loss); other software (a kube-proxy, say) may add its own chains there and is
never touched. In the root namespace a lab with host access owns `<prefix>-guard`, which keeps
lab traffic from being forwarded anywhere but between lab interfaces (the lab stays sealed).

Each render produces the whole content of netlab's chains: declaring a chain in a `--noflush`
restore flushes it, so applying the text again converges instead of adding duplicates. Jumps
into those chains from the built-in chains are added only when `saved` (the table's current
`iptables-save` text) lacks them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netlab.model import Masquerade, PortForward
from netlab.naming import rule_comment

NAT_PRE = "NL-PRE"
NAT_POST = "NL-POST"
FAULT = "NL-FAULT"


@dataclass(frozen=True)
class Drop:
    """Drop what arrives from `source` (a CIDR), or on `in_if`, with `probability` (1 = all)."""

    source: str | None = None
    in_if: str | None = None
    probability: float = 1.0


def _jump(
    saved: str, builtin: str, chain: str, extra: str = "", *, first: bool = False
) -> list[str]:
    rule = f"{builtin}{extra} -j {chain}"
    if f"-A {rule}" in saved.splitlines():
        return []
    # `first`: ahead of whatever the machine already has (an ACCEPT must not bypass the guard).
    return [f"-I {builtin} 1{rule[len(builtin) :]}" if first else f"-A {rule}"]


def _tag(prefix: str) -> str:
    return f' -m comment --comment "{rule_comment(prefix)}"' if prefix else ""


def render_nat(
    masquerade: Sequence[Masquerade],
    forwards: Sequence[PortForward],
    saved: str = "",
    *,
    prefix: str = "",
) -> str:
    """The nat table of one lab namespace: MASQUERADE and port forwards (DNAT).

    With `prefix`, every rule carries the lab's comment."""
    tag = _tag(prefix)
    lines = ["*nat", f":{NAT_PRE} - [0:0]", f":{NAT_POST} - [0:0]"]
    lines += _jump(saved, "PREROUTING", NAT_PRE)
    lines += _jump(saved, "OUTPUT", NAT_PRE)
    lines += _jump(saved, "POSTROUTING", NAT_POST)
    for m in masquerade:
        lines.append(f"-A {NAT_POST} -s {m.source} -o {m.out}{tag} -j MASQUERADE")
    for f in forwards:
        match = f"-i {f.in_if} " if f.in_if else ""
        lines.append(
            f"-A {NAT_PRE} {match}-p {f.proto} -m {f.proto} --dport {f.port}{tag}"
            f" -j DNAT --to-destination {f.to}:{f.to_port}"
        )
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def render_faults(drops: Iterable[Drop], saved: str = "", *, prefix: str = "") -> str:
    """The filter table of one lab namespace: what its faults drop on the way in."""
    tag = _tag(prefix)
    lines = ["*filter", f":{FAULT} - [0:0]"]
    lines += _jump(saved, "INPUT", FAULT)
    for d in drops:
        parts = [f"-A {FAULT}"]
        if d.in_if:
            parts.append(f"-i {d.in_if}")
        if d.source:
            parts.append(f"-s {d.source}")
        if d.probability < 1.0:
            parts.append(f"-m statistic --mode random --probability {d.probability:.5f}")
        parts.append(f"{tag.strip()} -j DROP" if tag else "-j DROP")
        lines.append(" ".join(parts))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def guard_chain(prefix: str) -> str:
    return f"{prefix}-guard"


def render_guard(prefix: str, saved: str = "") -> str:
    """Root-namespace filter rules that keep a lab with host access sealed.

    Traffic may be forwarded between lab interfaces (`<prefix>-*`) only; anything entering from
    the lab towards another interface, or from elsewhere into the lab, is dropped.
    """
    chain = guard_chain(prefix)
    # Quoted as iptables-save prints it, so the saved jump is recognised on the next render.
    comment = _tag(prefix)
    lab = f"{prefix}-+"
    lines = ["*filter", f":{chain} - [0:0]"]
    lines += _jump(saved, "FORWARD", chain, comment, first=True)
    lines.append(f"-A {chain} -i {lab} ! -o {lab}{comment} -j DROP")
    lines.append(f"-A {chain} -o {lab} ! -i {lab}{comment} -j DROP")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def render_cleanup(prefix: str, saved: str) -> str:
    """Remove every rule and chain of `prefix` found in `saved` (full `iptables-save` text).

    Rules tagged with the lab's comment or jumping to one of its chains are deleted, then its
    chains are flushed and removed. Returns "" when there is nothing to remove.
    """
    chain_prefix = f"{prefix}-"
    comment = rule_comment(prefix)
    out: list[str] = []
    table = ""
    deletes: list[str] = []
    chains: list[str] = []

    def close() -> None:
        if table and (deletes or chains):
            out.append(f"*{table}")
            out.extend(deletes)
            out.extend(f"-F {c}" for c in chains)
            out.extend(f"-X {c}" for c in chains)
            out.append("COMMIT")

    for line in saved.splitlines():
        if line.startswith("*"):
            close()
            table, deletes, chains = line[1:].strip(), [], []
        elif line.startswith(":"):
            name = line[1:].split()[0]
            if name.startswith(chain_prefix):
                chains.append(name)
        elif line.startswith("-A "):
            chain, _, rest = line[3:].partition(" ")
            if chain.startswith(chain_prefix):
                continue  # goes with its chain's flush
            target = rest.split(" -j ")[-1].split()[0] if " -j " in rest else ""
            tokens = [t.strip('"') for t in rest.split()]
            if comment in tokens or target.startswith(chain_prefix):
                deletes.append(f"-D {chain} {rest}")
    close()
    return "\n".join(out) + "\n" if out else ""
