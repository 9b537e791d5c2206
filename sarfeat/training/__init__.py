"""Training Fast-R2D2 on SAR image pairs: datasets, losses, sampler and trainer."""
