"""Training Fast-R2D2 on SAR image pairs: datasets, losses, sampler and trainer.

The package itself holds no names: its public parts are the submodules below,
imported by name (``from sarfeat.training import trainer``; torch is needed).
"""

__all__ = ["cli", "distill", "invariant_descriptor", "learned_polar", "losses", "onnx_models",
           "open_sar", "orientation",
           "pairs", "patch_descriptor", "trainer", "validation"]
