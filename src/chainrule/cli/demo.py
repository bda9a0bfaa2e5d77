"""`chainrule demo`: the notes' worked example end to end — explained, trained, swept."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chainrule.cli.core import command


@command("demo")
def demo(
    steps: Annotated[int, typer.Option(help="Training steps (also of each sweep run).", min=1)]
    = 10_000,
    explain: Annotated[bool, typer.Option(help="Explain the first step.")] = True,
    sweep: Annotated[bool, typer.Option(help="Sweep η = 0.1 … 2.")] = True,
    workers: Annotated[int | None, typer.Option(help="Processes for the sweep; 1 runs in this "
                                                     "process.  [default: one per core]",
                                                min=1)] = None,
    out: Annotated[Path, typer.Option(help="Folder for the sweep's plot and table.")] =
        Path("chainrule-demo"),
) -> None:
    """The notes' 2-2-2 sigmoid network: explain one step, train it, sweep learning rates."""
    from rich.console import Console

    console = Console()
    if explain:
        _explain_first_step(console)
    _train(console, steps)
    if sweep:
        _sweep(console, out, steps, workers)


def _explain_first_step(console: object) -> None:
    from chainrule.examples import INPUTS, LEARNING_RATE, TARGETS, worked_example_model
    from chainrule.explain import explain, render_text

    result = explain(worked_example_model(), INPUTS, TARGETS, loss="half_sse",
                     lr=LEARNING_RATE)
    render_text(result, console=console)


def _train(console, steps: int) -> None:
    """Plain gradient descent, W ← W − η·∂E/∂W, printing the error as it falls.

    Each step replays a traced step: the same weights as eager mode, bit for bit, in less time.
    """
    from chainrule.runs import RunInterrupted, TrainConfig, train
    from chainrule.train import predict

    config = TrainConfig(dataset="worked-example", epochs=steps, trace=True)
    console.rule(f"training: {steps:,} steps of gradient descent, η = {config.lr:g}")
    try:
        run = train(config)
    except RunInterrupted as stop:  # Ctrl-C: one line and exit 130, as `chainrule train`
        raise KeyboardInterrupt(str(stop)) from None
    errors = [*run.history.step_losses, run.final["loss"]]  # E before each update, then after
    for step in sorted({0, 1, 10, 100, 1000, steps} & set(range(len(errors)))):
        console.print(f"step {step:>6}: E_total = {errors[step]:.9f}")
    outputs = predict(run.model, run.prepared.X_train)[0]
    console.print(f"outputs after {steps:,} steps: {outputs[0]:.9f}, {outputs[1]:.9f} "
                  "(targets 0.01, 0.99)")


def _sweep(console, out: Path, steps: int, workers: int | None) -> None:
    from chainrule.runs import sweep

    console.rule("learning-rate sweep: η = 0.1, 0.2, 0.5, 0.8, 1, 2")
    sweep.worked_example_sweep(out, steps=steps, workers=workers, console=console)
