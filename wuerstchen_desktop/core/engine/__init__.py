"""The recipe: checkpoints to modules, text encoding, sampling, Stage C/B/A, model residency, previews."""
