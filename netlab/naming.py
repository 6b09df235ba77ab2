"""How lab objects are named in the kernel. Pure.

The scheme other parts rely on (kubelab builds its machines with it):

- a lab has a prefix of 2-8 lowercase letters/digits, starting with a letter (`prefix:` in the
  file, else the lab name's letters and digits);
- host `H` is the network namespace `<prefix>-H`;
- a bridge `B` in the root namespace is the interface `<prefix>-B`; a bridge inside a host keeps
  its own name there (the namespace already belongs to the lab);
- a veth end in the root namespace is `<prefix>-<label>` where the label names the far end
  (`h1-eth0`); a bridge port inside a host is `<label>`; whatever would exceed the kernel's 15
  characters is shortened to a stable hash of the label, so names never depend on file order;
- an interface a host's link end asks for (`h1:eth0`) is used as written; an end without a name
  gets the first free `ethN` of its host, in file order;
- iptables: inside a lab namespace netlab owns the chains `NL-*`; in the root namespace its chains
  are `<prefix>-*` and every rule carries the comment `netlab:<prefix>`.

So everything a lab created in the root namespace starts with `<prefix>-`, which is what
`netlab clean --prefix` looks for.
"""

from __future__ import annotations

import hashlib
import re

IFNAMSIZ = 15  # the kernel's limit, without the trailing NUL

PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,7}$")
LAB_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
NODE_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$")
SYSCTL_RE = re.compile(r"^net\.[A-Za-z0-9_.-]+$")
RESERVED_IFNAMES = frozenset({"lo", "all", "default"})


def netns_name(prefix: str, host: str) -> str:
    return f"{prefix}-{host}"


def _hashed(label: str, width: int) -> str:
    return hashlib.sha1(label.encode(), usedforsecurity=False).hexdigest()[:width]


def root_ifname(prefix: str, label: str) -> str:
    """A name in the root namespace: `<prefix>-<label>`, or `<prefix>-<hash>` when too long."""
    name = f"{prefix}-{label}"
    if len(name) <= IFNAMSIZ:
        return name
    return f"{prefix}-{_hashed(label, IFNAMSIZ - len(prefix) - 1)}"


def local_ifname(label: str) -> str:
    """A name inside a lab namespace: the label, or `p<hash>` when too long."""
    if len(label) <= IFNAMSIZ:
        return label
    return f"p{_hashed(label, IFNAMSIZ - 1)}"


def ifname_problem(name: str) -> str | None:
    """Why `name` cannot be an interface name, or None when it can."""
    if len(name) > IFNAMSIZ:
        return f"interface name {name!r} is {len(name)} characters; the kernel allows {IFNAMSIZ}"
    if name in RESERVED_IFNAMES:
        return f"interface name {name!r} is reserved"
    if not IFNAME_RE.match(name):
        return (
            f"interface name {name!r} is not accepted; use letters, digits, '_', '.', '-' "
            "(not starting with '.' or '-')"
        )
    return None


def chain_prefix(prefix: str) -> str:
    """Root-namespace iptables chains of a lab start with this."""
    return f"{prefix}-"


def rule_comment(prefix: str) -> str:
    return f"netlab:{prefix}"
