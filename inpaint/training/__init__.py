"""Training: data, losses, the step loop, validation, distributed set-up, logs (checkpoints: :mod:`inpaint.checkpoint`)."""
