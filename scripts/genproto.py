"""Regenerate the committed protobuf/gRPC modules in `kubelab/gen/` from `proto/`.

    python scripts/genproto.py          # rewrite kubelab/gen/
    python scripts/genproto.py --check  # exit 1 if kubelab/gen/ differs from a fresh generation

Every top-level directory of `proto/` becomes a subpackage of `kubelab.gen` (`proto/etcd/rpc.proto`
-> `kubelab.gen.etcd.rpc_pb2`). protoc writes absolute imports rooted at `proto/` (`from etcd
import kv_pb2`), so they are rewritten to live under `kubelab.gen`. The generator is pinned: the
output of another grpcio-tools version differs, and the check would fail for the wrong reason.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
GEN_DIR = ROOT / "kubelab" / "gen"
GEN_PACKAGE = "kubelab.gen"
PINNED = {"grpcio-tools": "1.85.1", "mypy-protobuf": "5.1.0"}
HEADER_INIT = '"""Generated protobuf and gRPC modules; regenerate with scripts/genproto.py."""\n'


def check_pins() -> None:
    for dist, want in PINNED.items():
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            sys.exit(f"genproto: {dist}=={want} is not installed (pip install -e '.[dev]')")
        if have != want:
            sys.exit(
                f"genproto: {dist} is {have}, the project pins {want} (pip install -e '.[dev]')"
            )


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    argv = [
        sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
        f"--python_out={out}", f"--grpc_python_out={out}",
        f"--mypy_out={out}", f"--mypy_grpc_out={out}", *protos,
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=PROTO_DIR, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"genproto: protoc failed (exit {proc.returncode}):\n{proc.stderr}")
    roots = sorted({Path(p).parts[0] for p in protos})
    pattern = re.compile(rf"^(from|import) ({'|'.join(map(re.escape, roots))})(\.|\s)", re.M)
    for path in out.rglob("*"):
        if path.suffix in (".py", ".pyi"):
            text = path.read_text()
            path.write_text(pattern.sub(rf"\1 {GEN_PACKAGE}.\2\3", text))
    for directory in [out, *(d for d in out.rglob("*") if d.is_dir())]:
        (directory / "__init__.py").write_text(HEADER_INIT)


def differences(a: Path, b: Path) -> list[str]:
    def files(root: Path) -> set[str]:
        return {
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }

    fa, fb = files(a), files(b)
    diff = sorted(fa ^ fb)
    diff += sorted(f for f in fa & fb if not filecmp.cmp(a / f, b / f, shallow=False))
    return diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if kubelab/gen is stale")
    args = parser.parse_args()
    check_pins()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "gen"
        fresh.mkdir()
        generate(fresh)
        if args.check:
            stale = differences(fresh, GEN_DIR) if GEN_DIR.exists() else ["kubelab/gen (missing)"]
            if stale:
                print("genproto: kubelab/gen is out of date with proto/; run scripts/genproto.py")
                for name in stale:
                    print(f"  differs: {name}")
                sys.exit(1)
            print("genproto: kubelab/gen is up to date")
            return
        if GEN_DIR.exists():
            shutil.rmtree(GEN_DIR)
        shutil.copytree(fresh, GEN_DIR)
        print(f"genproto: wrote {GEN_DIR.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
