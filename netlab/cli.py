"""The `netlab` console script: bring declarative network labs up and down."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="netlab")
def cli() -> None:
    """netlab: declarative network labs on real namespaces, veth pairs and bridges."""


def main() -> None:
    cli()
