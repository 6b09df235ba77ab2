"""The image catalog: image name -> process recipe (entrypoint, cmd, env, PATH).

No images are pulled. `resolve_name()` strips registry, `library/`, tag and digest, so
`docker.io/library/busybox:1.36` and `busybox` are the same image. `argv()` applies Docker's
rules: `command` replaces the entrypoint (and drops the image's cmd), `args` replaces the cmd.

`busybox` runs the Debian busybox binary: the kubelet prepares a directory of applet symlinks
that comes first on the container's PATH, so `sh`, `wget`, `nc`, `httpd` are busybox's.
`python` runs this machine's Python 3. The other images are small servers in this package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROJECT_ROOT = str(Path(__file__).resolve().parents[2])  # the directory that holds node_agent


@dataclass(frozen=True)
class Image:
    name: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    bin_dir: str = ""  # a directory prepared by `prepare()`, first on PATH
    ports: tuple[int, ...] = ()


def _py_module(module: str) -> tuple[str, ...]:
    # -I would drop the package from sys.path; -u makes logs appear as they are written.
    return (sys.executable, "-u", "-m", module)


IMAGES: dict[str, Image] = {
    "busybox": Image("busybox", cmd=("sh",), bin_dir="busybox"),
    "python": Image("python", cmd=("python3",), bin_dir="python", env={"PYTHONUNBUFFERED": "1"}),
    "nginx": Image("nginx", entrypoint=_py_module("node_agent.images.nginx"), ports=(80,)),
    "agnhost": Image("agnhost", entrypoint=_py_module("node_agent.images.agnhost")),
    "pause": Image("pause", entrypoint=_py_module("node_agent.images.pause")),
}
ALIASES = {
    "e2e-test-images/agnhost": "agnhost",
    "kubernetes-e2e-test-images/agnhost": "agnhost",
    "alpine": "busybox",
    "python3": "python",
}


def resolve_name(image: str) -> str:
    """`registry.k8s.io/e2e-test-images/agnhost:2.39` -> `e2e-test-images/agnhost`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: len(name) - len(last[-1])] + last[-1].split(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def lookup(image: str) -> Image | None:
    name = resolve_name(image)
    name = ALIASES.get(name, name)
    return IMAGES.get(name)


def known_images() -> list[str]:
    return sorted(IMAGES)


def argv(image: Image, command: Sequence[str] | None, args: Sequence[str] | None) -> list[str]:
    if command:
        return [*command, *(args or ())]
    return [*image.entrypoint, *(image.cmd if args is None else args)]


def runs_from(argv: Sequence[str], path: str) -> list[str]:
    """The node paths a command needs once its container's volumes are mounted (containers
    share the node's filesystem): its executable as found on `path` and what that links to;
    for this interpreter its installation (and the virtualenv it was started from); for the
    catalog's own images the directory that holds their package."""
    if not argv:
        return []
    found = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=path)
    if found is None:
        return []
    exe = os.path.abspath(found)
    real = os.path.realpath(exe)
    needed = [exe, real]
    if real == os.path.realpath(sys.executable):
        needed.append(sys.base_prefix)
        if exe.startswith(sys.prefix.rstrip("/") + "/"):
            needed.append(sys.prefix)
        if any(arg.startswith("node_agent.images.") for arg in argv[1:4]):
            needed.append(PROJECT_ROOT)
    return list(dict.fromkeys(needed))


def path_for(image: Image, images_dir: Path) -> str:
    if image.bin_dir:
        return f"{images_dir / image.bin_dir}:{HOST_PATH}"
    return HOST_PATH


def prepare(images_dir: Path) -> None:
    """Create the applet/interpreter directories the catalog's PATHs point at (idempotent)."""
    busybox_dir = images_dir / "busybox"
    busybox = shutil.which("busybox")
    if busybox and not (busybox_dir / "sh").exists():
        busybox_dir.mkdir(parents=True, exist_ok=True)
        listing = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout
        for applet in listing.split():
            link = busybox_dir / applet
            if not link.exists() and "/" not in applet:
                link.symlink_to(busybox)
    python_dir = images_dir / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    real = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    target = real if real.exists() else Path(sys.executable)
    for name in ("python", "python3"):
        link = python_dir / name
        if not link.exists():
            link.symlink_to(target)
