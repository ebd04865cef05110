"""``gpnas score``: score any torch model with a NASM."""

from __future__ import annotations

import json

import typer

from gpnas.console import err


def score_command(
    program: str = typer.Argument(..., help="A program file, a run directory (its best "
                                  "program), or a built-in: eznas-a, eznas-a-code"),
    model: str = typer.Option(..., "--model", help="pkg.module:factory returning an nn.Module "
                              "(the module is imported and run, as `python -m` would; the "
                              "working directory is on its path)"),
    input_shape: str = typer.Option("3,32,32", "--input-shape", help="C,H,W of the input"),
    batch_size: int = typer.Option(None, "--batch-size", show_default=False,
                                   help="Images per batch (default: the program's)"),
    seed: int = typer.Option(0, "--seed", help="Seed of model init, images and noise"),
    images: str = typer.Option(None, "--images", show_default=False,
                               help="Real images: CIFAR python batches or a folder of image "
                               "files (default: the built-in photograph)"),
    candidate: str = typer.Option(None, "--candidate", show_default=False,
                                  help="Another candidate of a run directory"),
    as_json: bool = typer.Option(False, "--json", help='Print {"score": ..., "instances": ...}'),
):
    """Score any torch model with a NASM (statistics collected on the fly)."""
    from gpnas.nasm.limits import program_text
    from gpnas.nasm.programfile import load_program
    from gpnas.nasm.score import build_model, load_factory, parse_shape, score_model
    from gpnas.schemas import BatchSize, Seed, check_option

    check_option("--seed", seed, Seed)
    check_option("--batch-size", batch_size, BatchSize)
    pf = load_program(program, candidate=candidate)
    shape = parse_shape(input_shape)
    net = build_model(load_factory(model), seed, model)
    result = score_model(net, pf, input_shape=shape, seed=seed, batch_size=batch_size,
                         images_path=images)
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        print(f"{result.score:.10g}")
        err.print(f"{result.instances} instances; program {program_text(pf.program, 400)}",
                  markup=False)
