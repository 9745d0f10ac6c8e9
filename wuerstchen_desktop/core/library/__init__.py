"""The output folder: the history index over it, trash, file naming and the folder check."""
