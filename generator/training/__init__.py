"""Training a two-stream fusion network on a data set on disk with the paper's recipe (``atlas train``
with ``data.source: folder``): recipe (stages and their sources), data (sampling and augmentation),
loop (SGD, checkpoints, resume, data parallel) and card (the model card from the test split)."""
