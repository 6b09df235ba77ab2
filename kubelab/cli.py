"""The `kubelab` console script: lab lifecycle on the host.

Commands that need parts of the cluster not yet built say so and exit non-zero; none pretends.
"""

from __future__ import annotations

import sys

import click

import kubelab

NOT_BUILT = (
    "kubelab {command}: the embedded lab is not built yet in this version "
    "(the kvstore, apiserver, kubelet and scheduler come first; see README.md, 'Status')."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(kubelab.__version__, prog_name="kubelab")
def cli() -> None:
    """kubelab: a real Kubernetes-style cluster on one Linux machine."""


@cli.command()
@click.option("--name", default="kubelab", show_default=True, help="Cluster name.")
def up(name: str) -> None:
    """Start a cluster and a demo app."""
    del name
    click.echo(NOT_BUILT.format(command="up"), err=True)
    sys.exit(1)


@cli.command()
@click.option("--name", default="kubelab", show_default=True, help="Cluster name.")
def down(name: str) -> None:
    """Stop a cluster and remove everything it created."""
    del name
    click.echo(NOT_BUILT.format(command="down"), err=True)
    sys.exit(1)


def main() -> None:
    cli()
