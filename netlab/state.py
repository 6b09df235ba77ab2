"""The record of a running lab: `<state dir>/<prefix>.json` (default dir `/run/netlab`).

It holds the topology text the lab was built from (so `down LAB`, `show` and faults can work from
a lab name alone) and the faults in force. `/run` is emptied at boot, exactly when the kernel
objects it describes vanish too. `clean` never needs it: every object carries the prefix.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DIR = "/run/netlab"


def state_dir() -> Path:
    return Path(os.environ.get("NETLAB_STATE_DIR", DEFAULT_DIR))


@dataclass(frozen=True)
class Partition:
    a: tuple[str, ...]
    b: tuple[str, ...]
    oneway: bool  # True: only traffic from `a` to `b` is cut


@dataclass(frozen=True)
class Faults:
    partitions: tuple[Partition, ...] = ()
    loss: tuple[tuple[str, float], ...] = ()  # (endpoint label, percent)
    bandwidth: tuple[tuple[str, str], ...] = ()  # (endpoint label, rate)
    down: tuple[str, ...] = ()  # endpoint labels of links set down


@dataclass(frozen=True)
class Record:
    name: str
    prefix: str
    source: str
    text: str
    faults: Faults = field(default_factory=Faults)


def _path(prefix: str) -> Path:
    return state_dir() / f"{prefix}.json"


def save(record: Record) -> None:
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{record.prefix}.json.tmp"
    tmp.write_text(json.dumps(asdict(record), indent=1))
    tmp.replace(_path(record.prefix))


def _faults(data: dict[str, Any]) -> Faults:
    return Faults(
        partitions=tuple(
            Partition(tuple(p["a"]), tuple(p["b"]), bool(p["oneway"]))
            for p in data.get("partitions", [])
        ),
        loss=tuple((str(e), float(p)) for e, p in data.get("loss", [])),
        bandwidth=tuple((str(e), str(r)) for e, r in data.get("bandwidth", [])),
        down=tuple(data.get("down", [])),
    )


def read(prefix: str) -> Record | None:
    try:
        data = json.loads(_path(prefix).read_text())
    except FileNotFoundError:
        return None
    return Record(
        name=data["name"],
        prefix=data["prefix"],
        source=data["source"],
        text=data["text"],
        faults=_faults(data.get("faults", {})),
    )


def find(lab: str) -> Record | None:
    """The record of the lab named or prefixed `lab`."""
    found = read(lab) if "/" not in lab else None
    if found is not None:
        return found
    for record in records():
        if record.name == lab:
            return record
    return None


def records() -> list[Record]:
    directory = state_dir()
    if not directory.is_dir():
        return []
    out = []
    for entry in sorted(directory.glob("*.json")):
        record = read(entry.stem)
        if record is not None:
            out.append(record)
    return out


def remove(prefix: str) -> None:
    _path(prefix).unlink(missing_ok=True)
