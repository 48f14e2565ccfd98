"""Command-line helpers for the classifier (attached to ``flask comments``)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["build_test_model_command"]


@click.command("build-test-model")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=0, show_default=True, help="Training seed.")
def build_test_model_command(directory: Path, seed: int) -> None:
    """Train the tiny Detoxify-format test model into DIR.

    It only knows the few hundred sentences of the shipped labelled sample:
    use it for development and tests, never for real moderation. Prints the
    settings that load it.
    """
    from .testmodel import build_test_model  # deferred: torch and transformers, only to build the model

    info = build_test_model(directory, seed=seed)
    click.echo(f"checkpoint: {info.checkpoint_path.resolve()}")
    click.echo(f"config dir: {info.config_dir.resolve()}")
    click.echo(f"sha256:     {info.sha256}")
    click.echo(
        f"trained in {info.train_seconds:.1f}s; held-out toxicity: toxic >= {info.heldout_toxic_min:.3f}, "
        f"clean <= {info.heldout_clean_max:.3f}"
    )
    click.echo("")
    click.echo("# environment for the app:")
    click.echo("COMMENTS_CLASSIFIER_MODEL_TYPE=original")
    click.echo(f"COMMENTS_CLASSIFIER_CHECKPOINT={info.checkpoint_path.resolve()}")
    click.echo(f"COMMENTS_CLASSIFIER_CHECKPOINT_SHA256={info.sha256}")
    click.echo(f"COMMENTS_CLASSIFIER_CONFIG_DIR={info.config_dir.resolve()}")
