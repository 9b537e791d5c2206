"""What ``register`` and ``register-stack`` share about a pair's search: one definition each.

The options ``--modality``, ``--turns``, ``--scales`` and ``--dense-model``
(:func:`add_search_options`), the bands matched of each side
(:func:`add_band_options`), ``--keep-border-fill``, ``--min-valid-fraction``
and ``--max-fine-patches`` (:func:`add_matching_options`); the matcher
options they make (:func:`matcher_options`); which turns are searched
(:func:`upright_turns`, :func:`whole_circle_search`), how a report records it
(:func:`search_report`) and how a refusal says to widen it
(:func:`refusal_hint`), led for two georeferenced files by how much of the fixed
one they share (:func:`overlap_hint`); a colour picture in the SAR image's place is refused
(:func:`check_sar_pictures`), and a refused SAR pair with one says how to match it as optical
(:func:`picture_hint`). Their refusals are
:func:`sarfeat.cli.register_checks.check_search_options`.
"""

from __future__ import annotations

import argparse

from ..image_checks import MIN_VALID_FRACTION
from .common import BAND_INDEX, UsageError, unit_fraction
from .register_checks import FINE_PATCHES, patch_limit

__all__ = ["MODALITIES", "WHOLE_CIRCLE", "add_search_options", "add_band_options",
           "add_matching_options", "matcher_options", "upright_turns", "upright_search",
           "whole_circle_search", "search_report", "refusal_hint", "overlap_hint",
           "check_sar_pictures", "colour_pictures", "picture_hint"]

#: Choices of ``--modality``: what the fixed and the moving image are.
MODALITIES = ("sar", "optical-sar", "sar-optical", "optical")
#: The modality of a pair with its roles swapped (the fixed image's and the moving one's).
_SWAPPED = {"optical-sar": "sar-optical", "sar-optical": "optical-sar"}
#: The turns (degrees) searched for ``--turns any`` with an optical image: the whole circle
#: (the dense matcher's own default stops at +-90 degrees).
WHOLE_CIRCLE = tuple(float(angle) for angle in range(0, 360, 15))


def add_search_options(parser: argparse.ArgumentParser, fixed: str = "FIXED",
                       moving: str = "MOVING", upright_flag: bool = False) -> None:
    """Add ``--modality``, ``--turns``, ``--scales`` and ``--dense-model`` to ``parser``.

    ``fixed`` and ``moving`` name the command's fixed and moving inputs in the
    help; ``upright_flag``: the command has ``--upright`` too.
    """
    add = parser.add_argument
    add("--modality", choices=MODALITIES, default="sar",
        help=f"what {fixed} and {moving} are: both SAR (default), {fixed} optical and {moving} "
             "SAR (optical-sar), the other way round (sar-optical), or both optical (optical); "
             "a pair with an optical image is matched on dense structure maps")
    add("--turns", choices=("auto", "upright", "any"), default="auto",
        help="turns searched between the images: upright only; any (with an optical image "
             "the whole circle, every 15 degrees: about 1.3 times the time of its default "
             "search within +-90 degrees); or auto (default: upright for two georeferenced "
             "inputs with an optical image, brought onto one grid; otherwise any turn for "
             "two SAR images and within +-90 degrees with an optical one)"
             + ("; --upright also means upright here" if upright_flag else ""))
    add("--scales", choices=("default", "wide"), default="default",
        help="scales searched with an optical image: default 0.59-2 (with refinement about "
             "0.52-2.3), or wide 0.5-2 (about 0.44-2.3; about 1.2 times the time)")
    add("--dense-model", choices=("similarity", "affine"), default="similarity",
        help="with an optical image, the transform returned: a similarity (default), or an "
             "affine map where the images correlate clearly better stretched (a SAR image "
             "in its own geometry, say): affine tries the stretch on every pair (about 1.1 "
             "CPU s more), similarity only where the placed templates drift from the "
             "similarity (--model similarity: never)")


def add_band_options(parser: argparse.ArgumentParser, both: str, fixed: tuple[str, str],
                     moving: tuple[str, str]) -> None:
    """Add ``--band`` (of ``both``) and a band option for each side to ``parser``.

    ``fixed`` and ``moving`` are (flag, what it names): ``('--fixed-band',
    'FIXED')`` for ``register``.
    """
    add = parser.add_argument
    add("--band", type=int, default=None, metavar="I",
        help=f"band of {both} to match ({BAND_INDEX}; see {fixed[0]}, {moving[0]})")
    add(fixed[0], type=int, default=None, metavar="I",
        help=f"band of {fixed[1]} to match, counted as --band (not with --band)")
    add(moving[0], type=int, default=None, metavar="I",
        help=f"band of {moving[1]} to match, counted as --band (not with --band; every "
             "band is written)")


def add_matching_options(parser: argparse.ArgumentParser, fixed: str = "FIXED") -> None:
    """Add ``--keep-border-fill``, ``--min-valid-fraction`` and ``--max-fine-patches`` to
    ``parser``; ``fixed`` names the command's fixed input in the help."""
    add = parser.add_argument
    add("--keep-border-fill", action="store_true",
        help="with an optical image, match a constant fill around an image turned or scaled "
             "onto its canvas as data (by default, when the four corners hold one value, its "
             "pixels connected to the border are no-data)")
    add("--min-valid-fraction", type=unit_fraction, default=MIN_VALID_FRACTION, metavar="F",
        help="refuse an input (after the crop to the overlap of georeferenced footprints) "
             f"with a smaller fraction of valid pixels (default {MIN_VALID_FRACTION:g})")
    add("--max-fine-patches", type=patch_limit, default=FINE_PATCHES, metavar="N|all",
        help=f"at most 512-pixel patches of {fixed} the fine stage describes, spread evenly over "
             "a large overlap (default 16: a scene beyond 2048 x 2048 is sampled); 'all' "
             "describes every patch (tie points over the whole scene, time in proportion "
             "to its pixels)")


def matcher_options(args: argparse.Namespace, input_kind: str, upright: bool = False,
                    whole_circle: bool = False) -> dict:
    """The :class:`~sarfeat.CoarseFineMatcher` options (all but weights and progress) of the
    command's ``args``; ``upright`` searches only the upright turn (``rotations=(0,),
    angle_step=None``), ``whole_circle`` every turn of :data:`WHOLE_CIRCLE`."""
    from ..matching.dense import WIDE_SCALES

    search = {}  # the turns and scales searched, when not the matcher's own
    if upright or whole_circle:
        search = {"rotations": (0.0,) if upright else WHOLE_CIRCLE, "angle_step": None}
    if getattr(args, "scales", "default") == "wide":
        search["dense_scales"] = WIDE_SCALES
    if getattr(args, "dense_model", "similarity") != "similarity":
        search["dense_model"] = args.dense_model
    return dict(model=args.model, rng=args.seed, input_kind=input_kind, nodata=args.nodata,
                max_fine_patches=getattr(args, "max_fine_patches", FINE_PATCHES),
                precision=args.precision, device=args.device, trust=args.trust,
                modality=getattr(args, "modality", "sar"),
                border_fill=not getattr(args, "keep_border_fill", False), **search)


def upright_turns(args: argparse.Namespace, georeferenced: bool) -> bool:
    """Whether only the upright turn is searched for a pair, ``georeferenced`` when both its
    inputs are: ``--turns upright`` (or ``--upright``), or ``--turns auto`` with two
    georeferenced inputs and an optical image (brought onto one grid, they are upright)."""
    turns = getattr(args, "turns", "auto")
    if turns == "upright" or getattr(args, "upright", False):
        return True
    optical = getattr(args, "modality", "sar") != "sar"
    return turns == "auto" and optical and georeferenced


def upright_search(args: argparse.Namespace, fixed, moving) -> bool:
    """:func:`upright_turns` of two rasters (:class:`sarfeat.io.Raster`)."""
    return upright_turns(args, fixed.georeferenced and moving.georeferenced)


def whole_circle_search(args: argparse.Namespace) -> bool:
    """Whether every turn of the whole circle is searched: ``--turns any`` with an optical
    image (two SAR images are searched over every turn by default)."""
    optical = getattr(args, "modality", "sar") != "sar"
    return (optical and getattr(args, "turns", "auto") == "any"
            and not getattr(args, "upright", False))


def search_report(args: argparse.Namespace, upright: bool, whole_circle: bool) -> dict:
    """What a JSON report says of the search: ``upright_search``, ``whole_circle_search``,
    ``wide_scale_search`` and ``dense_model``."""
    return {"upright_search": upright, "whole_circle_search": whole_circle,
            "wide_scale_search": getattr(args, "scales", "default") == "wide",
            "dense_model": getattr(args, "dense_model", "similarity")}


def refusal_hint(args: argparse.Namespace, error: Exception | str, upright: bool,
                 whole_circle: bool, resampled: bool = False, too_small: dict | None = None,
                 names: tuple[str, str] = ("FIXED", "MOVING")) -> str | None:
    """What the turns and scales searched for a refused optical pair were, and how to widen
    them; None for another error or pair, at the widest, or (scales) a ``resampled`` moving.
    Images too small for the fine stage's templates (``diagnostics['too_small']``, or
    ``too_small`` where ``error`` is a class name) are said to be instead, naming them
    by ``names`` (the fixed and the moving image's): no wider search helps them.

    Only a refusal of the search itself gets a hint: a
    :class:`~sarfeat.registration.RegistrationError` with the matcher's
    ``diagnostics``, not one of :func:`~sarfeat.registration.register`'s input checks
    (an image mostly no-data, under ``--min-valid-fraction``, or constant), which no
    wider search helps. ``error`` is the exception, or its class name where the caller
    knows it to be the search's (``register-stack``'s workers report
    :attr:`sarfeat.parallel.PairOutcome.error_type`, and ``searched`` only for the
    search's); ``args`` has the command's ``modality`` and ``scales``.
    """
    from ..matching.dense import DENSE_SCALES, WIDE_SCALES
    from ..registration import RegistrationError

    refused = error == RegistrationError.__name__ if isinstance(error, str) else \
        isinstance(error, RegistrationError) and error.diagnostics is not None
    if not refused or getattr(args, "modality", "sar") == "sar":
        return None
    too_small = too_small if isinstance(error, str) else error.diagnostics.get("too_small")
    if too_small:
        named = " and ".join(dict(zip(("image1", "image2"), names))[name]
                             for name in too_small["images"])
        return (f"{named} {'is' if len(too_small['images']) == 1 else 'are'} too small for the "
                f"fine stage, which places its templates in {too_small['window']} x "
                f"{too_small['window']} pixel windows: no wider search (--turns, --scales) "
                "helps; match larger images")
    hints = []
    if not whole_circle:
        searched = "only the upright turn was" if upright else "turns within +-90 degrees were"
        hints.append(f"{searched} searched: if the images may be turned further, --turns any "
                     "searches the whole circle")
    if getattr(args, "scales", "default") != "wide" and not resampled:
        added = ", ".join(f"{scale:g}" for scale in sorted(set(WIDE_SCALES) - set(DENSE_SCALES)))
        hints.append(f"moving pixels per fixed pixel of {min(DENSE_SCALES):.2f}-"
                     f"{max(DENSE_SCALES):g} were searched: if the moving image's pixels may "
                     f"be coarser still, --scales wide adds {added}")
    return "; ".join(hints) or None


def overlap_hint(inputs, fixed: str = "FIXED", moving: str = "MOVING") -> str:
    """How much of the fixed file two georeferenced inputs share with data in both, as the
    head of a refused search's hint; empty for inputs not both georeferenced, or none.

    ``inputs`` is the pair matched (:class:`sarfeat.registration.PairInputs`, its
    :meth:`~sarfeat.registration.PairInputs.shared_fraction`) or None; ``fixed`` and
    ``moving`` are what the command calls the two files (``register``: FIXED and
    MOVING; ``register-stack``: REFERENCE and the image).
    """
    shared = None if inputs is None else inputs.shared_fraction()
    if shared is None:
        return ""
    return (f"by their georeferencing, {fixed} and {moving} hold data together on "
            f"{100 * shared:.3g} % of {fixed}'s pixels; ")


def check_sar_pictures(modality: str, fixed, moving) -> None:
    """Refuse a colour picture read as the SAR image of a pair with an optical image.

    A PNG, JPEG or TIFF picture of 3 or 4 colour channels with no band chosen is
    read as its gray values; in the SAR image's place of ``--modality
    optical-sar`` or ``sar-optical`` it is most often the optical image with the
    roles swapped, and it would be matched as SAR without a word (as
    :func:`sarfeat.register` refuses an RGB(A) array given as the SAR image).

    Parameters
    ----------
    modality : str
        ``--modality`` (one of :data:`MODALITIES`).
    fixed : (sarfeat.io.Raster, int or None, str, str)
        The fixed input: its raster, its band chosen, how the command names it
        (``'FIXED'``, ``'REFERENCE'``) and the option that chooses its band
        (``'--fixed-band'``).
    moving : sequence of (sarfeat.io.Raster, int or None, str, str)
        The moving inputs, each as ``fixed`` (``register-stack``'s IMAGES: the first
        refused is named).

    Raises
    ------
    UsageError
        Naming the file, the modality that makes it the SAR image, the modality
        of the roles swapped and the option that would match one of its channels.
    """
    if modality not in _SWAPPED:
        return
    sar = [fixed] if modality == "sar-optical" else moving
    for raster, band, name, option in sar:
        if _read_as_gray(raster, band):
            raise UsageError(
                f"{name} {str(raster.path)!r} is a colour picture ({raster.count} channels) "
                f"where --modality {modality} takes a SAR image: if it is the optical one, "
                f"give --modality {_SWAPPED[modality]}; to match one of its channels as SAR, "
                f"choose it with {option}")


def _read_as_gray(raster, band: int | None) -> bool:
    """Whether ``raster`` is a colour picture (3 or 4 channels) read as its gray values:
    no band of it chosen (:meth:`sarfeat.io.Raster.band`)."""
    return band is None and raster.picture and raster.count in (3, 4)


def colour_pictures(fixed, moving) -> tuple[tuple[str, str, int], ...]:
    """The sides that are colour pictures read as their gray values: (name, path, channels)
    of each, for :func:`picture_hint` (taken before matching, so that the rasters can be let
    go while it runs). ``fixed`` and ``moving`` are each (raster, band chosen, name:
    ``"FIXED"``), as :func:`check_sar_pictures` takes them less the option."""
    return tuple((name, str(raster.path), raster.count) for raster, band, name in (fixed, moving)
                 if _read_as_gray(raster, band))


def picture_hint(modality: str, error: Exception | str, colour,
                 fixed: str = "FIXED") -> str | None:
    """How to match a colour picture as the optical image it likely is, when ``--modality
    sar`` matched it (its gray values) as SAR and the search was refused; None otherwise.

    It is not refused up front (a picture may be a SAR quick-look): only a refusal of the
    search itself (a :class:`~sarfeat.registration.RegistrationError` with the matcher's
    ``diagnostics``) gets the hint. ``error`` is the exception, or its class name where the
    caller knows it to be the search's, as for :func:`refusal_hint` (``register-stack``).
    ``colour`` is :func:`colour_pictures` of the two sides, ``fixed`` the fixed side's name
    there (``register-stack``: ``"REFERENCE"``).
    """
    from ..registration import RegistrationError

    refused = error == RegistrationError.__name__ if isinstance(error, str) else \
        isinstance(error, RegistrationError) and error.diagnostics is not None
    if modality != "sar" or not refused or not colour:
        return None
    both = len(colour) == 2
    given = "optical" if both else "optical-sar" if colour[0][0] == fixed else "sar-optical"
    named = " and ".join(f"{name} {path!r} ({count} channels)" for name, path, count in colour)
    return (f"{named} {'are colour pictures' if both else 'is a colour picture'}, matched as "
            f"SAR by {'their' if both else 'its'} gray values (--modality sar): if optical, "
            f"--modality {given} matches {'them' if both else 'it'} as optical")
