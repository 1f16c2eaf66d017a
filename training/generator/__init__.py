"""The vision-conditioned impact-sound generator (issue 6): differentiable synthesizer, models, training."""
