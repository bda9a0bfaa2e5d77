"""`chainrule demo`: the notes' worked example, trained end to end."""

from __future__ import annotations

from chainrule.cli import command


@command("demo")
def demo(steps: int = 10_000) -> None:
    """Train the notes' 2-2-2 sigmoid network (η = 0.5) and print the error falling."""
    import chainrule as cr
    from chainrule import nn
    from chainrule.examples import INPUTS, LEARNING_RATE, TARGETS, worked_example_model

    model = worked_example_model()
    loss = nn.HalfSquaredError()
    for step in range(steps + 1):
        model.zero_grad()
        E = loss(model(INPUTS), TARGETS)
        if step in (0, 1, 10, 100, 1000) or step == steps:
            print(f"step {step:>6}: E_total = {E.item():.9f}")
        if step < steps:
            E.backward()
            with cr.no_grad():
                for p in model.parameters():
                    if p.grad is not None:
                        p.data -= LEARNING_RATE * p.grad
