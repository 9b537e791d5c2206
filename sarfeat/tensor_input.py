"""Torch tensors given as images: the NumPy array of their values.

``np.asarray`` reads a CPU tensor, but not one that requires grad, one on a GPU,
a bfloat16 one (NumPy has no such dtype) or one with its conjugate bit set: torch
then raises from inside its ``__array__``. :func:`tensor_values` gives each of
those as the array of its values, so that a tensor is taken as the equivalent
NumPy array (sarfeat's results do not depend on gradients, and the detector's
``device`` says where its network runs, whatever the input's device).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch
    from numpy.typing import ArrayLike

__all__ = ["tensor_values"]


def tensor_values(image: torch.Tensor | ArrayLike) -> np.ndarray | ArrayLike:
    """``image`` as a NumPy array when it is a torch tensor, else ``image`` itself.

    The tensor is detached and read on the CPU (a copy for a GPU tensor; a CPU
    tensor's array shares its memory, which sarfeat never writes); bfloat16
    values are widened to float32, exactly. torch is not imported here: a tensor
    is recognised by its type's module.

    Parameters
    ----------
    image : torch.Tensor or array_like
        An image as given.

    Returns
    -------
    ndarray or array_like
        The tensor's values, or ``image`` unchanged.

    Examples
    --------
    >>> import torch
    >>> from sarfeat.tensor_input import tensor_values
    >>> tensor_values(torch.ones(2, 2, dtype=torch.bfloat16, requires_grad=True)).dtype
    dtype('float32')
    >>> tensor_values([[1, 2]])
    [[1, 2]]
    """
    module = type(image).__module__ or ""
    if not (module == "torch" or module.startswith("torch.")) or not hasattr(image, "detach"):
        return image
    tensor = image.detach()
    if str(tensor.dtype) == "torch.bfloat16":
        tensor = tensor.float()
    return tensor.cpu().resolve_conj().resolve_neg().numpy()
