"""Training: data, losses, the step loop, checkpoints, distributed set-up, logs."""
