"""Optical-SAR development pairs with known warps, built from the 3MOS preview strips.

The 3MOS repository (3M-OS/3MOS, Apache-2.0) publishes, per SAR satellite and
scene type, a preview strip of ten co-registered tiles: optical on top, SAR
below, 256 x 256 pixels each (TerraSAR tiles are stored about 1.234 times larger
and are brought back to that size one by one). Each tile pair becomes a development pair:
the optical tile is the fixed image, the SAR tile is turned, scaled and
shifted by a known similarity (the moving image), NaN outside.

Split by tile: tiles 0, 2, 4, 6, 8 of every strip are the ``'tune'`` split
(parameters were chosen on them), tiles 1, 3, 5, 7, 9 the ``'held_out'`` split
(never looked at while tuning; the figures of the benchmark are on it).

:func:`canvas_pairs` builds the other geometry of real pairs (EOSS's, and the
one issue 21 describes for its acceptance pairs: optical images 155-511 px
against 256 px SAR): the optical tile turned (+-90 degrees) and scaled (0.5-2) about its
centre onto a canvas of 256 x scale pixels, the corners outside it black
(0), the SAR tile as it is. The pixel sizes then differ by up to 2 either way
and the whole footprint overlaps.

``tiles='s1s2'`` takes the tile pairs from the Sentinel-1 / Sentinel-2
fragments of VolkovVl/Optical-SAR-dataset instead (:mod:`sarfeat.optical_sar_s1s2`:
100 fragments of 1024 px at 10 m, optical RGB read as gray): the four 256 px
tiles of each fragment's central 512 x 512 (:data:`S1S2_TILE_CORNERS`). Split
by fragment: the fragments at even positions of the sorted list are the
``'tune'`` split, those at odd positions the ``'held_out'`` split (200 and 196 pairs:
fragment 142 is left out, a duplicate of 130 in the data, :data:`S1S2_LEFT_OUT`).

``tiles='sen1floods11'`` takes them from the one sample chip of Sen1Floods11
(:mod:`sarfeat.optical_sar_evaluation`: 512 px at about 10 m in south-east Spain, a
terrain-corrected Sentinel-1 GRD image exported onto the Sentinel-2 image's grid, so
that the truth is the georeferencing and no relief displaces it): the nine 256 px tiles
at rows and columns 0, 128 and 256 (:data:`SEN1FLOODS11_TILE_CORNERS`; neighbours
overlap by half), each with VV and with VH (18 tile pairs; the SAR image as intensity,
the optical one the gray of bands 4, 3, 2). Evaluation only: a ``'held_out'`` split
alone, never tuned on.

``tiles='bigearthnet'`` takes them from the six example patch pairs of bigearthnet-common
2.8.0 (Apache-2.0 package; BigEarthNet data, CDLA-Permissive-1.0, modified Copernicus
Sentinel data): 120 x 120 px at 10 m in Austria, Ireland, Portugal and Finland, each a
terrain-corrected Sentinel-1 GRD patch (VV, VH, in dB) on the grid of a Sentinel-2 L2A
patch (:func:`bigearthnet_example_pairs`), so that, as on Sen1Floods11's chip, the truth is
the georeferencing. Each patch with VV and with VH makes 12 tile pairs of 120 px, which
``upscale`` (2: 240 px) brings near the others' size. Evaluation only.

The files are fetched through :func:`sarfeat.data.fetch` (pinned URL and
SHA-256); set ``SARFEAT_DATA_DIR`` to a folder holding ``optical_sar/3mos/``
(and ``optical_sar/s1s2/``, ``optical_sar/sen1floods11/``, ``sources/`` for
bigearthnet-common's wheel) to work offline.
"""

from __future__ import annotations

import io
import tarfile
import zipfile

import numpy as np
from scipy import ndimage
from skimage.transform import AffineTransform, SimilarityTransform, resize, warp

from sarfeat.data import OPTICAL_SAR_S1S2_FILES, OPTICAL_SAR_STRIPS, fetch
from sarfeat.io import read_image, read_raster, rgb_to_gray

#: Tile side.
TILE = 256
#: Warps of the development pairs: turn, scale and shift ranges.
MAX_ANGLE = 90.0
SCALE_RANGE = (0.7, 1.4)
MAX_SHIFT = 20.0
#: Top-left corners (row, column) of the four tiles cut from each Sentinel-1 / Sentinel-2
#: fragment (1024 px): its central 512 x 512.
S1S2_TILE_CORNERS = ((384, 384), (384, 640), (640, 384), (640, 640))
#: Fragments left out of the Sentinel-1 / Sentinel-2 pairs, with why.
S1S2_LEFT_OUT = {"142": "its optical file is byte for byte fragment 130's, and its SAR image "
                        "shows the same ground as 130's (a duplicate in the data)"}
#: Top-left corners (row, column) of the nine tiles cut from the Sen1Floods11 chip (512 px).
SEN1FLOODS11_TILE_CORNERS = tuple((y, x) for y in (0, 128, 256) for x in (0, 128, 256))
#: The Sen1Floods11 chip's files (SAR: VV, VH in dB; optical: Sentinel-2 L1C, 13 bands).
SEN1FLOODS11_CHIP = ("optical_sar/sen1floods11/Spain_7370579_S1Hand.tif",
                     "optical_sar/sen1floods11/Spain_7370579_S2Hand.tif")
#: bigearthnet-common's wheel, which holds the BigEarthNet example patches.
BIGEARTHNET_WHEEL = "sources/bigearthnet_common-2.8.0-py3-none-any.whl"
#: The sources of tile pairs.
TILE_SOURCES = ("3mos", "s1s2", "sen1floods11", "bigearthnet")


def _runs(content: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of the runs of True in a 1-D boolean array, longer than 32."""
    edges = np.flatnonzero(np.diff(np.r_[0, content.astype(np.int8), 0]))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a > 32]


def strip_tiles(name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ten (optical, SAR) gray tiles of one strip, float32 in [0, 255].

    Tiles are cut between the strip's white separators (rows and columns of
    one value), so that strips stored at another size (TerraSAR's tiles are
    316-317 px, at uneven columns) give each tile whole; a tile of another
    size is brought to 256 x 256.
    """
    image = read_image(fetch(name)).astype(np.float32)
    if image.ndim == 3:
        image = image[..., :3].mean(axis=-1)
    rows = _runs(image.std(axis=1) >= 1.0)
    cols = _runs(image.std(axis=0) >= 1.0)
    if len(rows) != 2 or len(cols) != 10:
        raise ValueError(f"{name}: expected 2 rows and 10 columns of tiles, found "
                         f"{len(rows)} and {len(cols)}")
    tiles = []
    for c0, c1 in cols:
        pair = []
        for r0, r1 in rows:
            tile = image[r0:r1, c0:c1]
            if tile.shape != (TILE, TILE):
                tile = resize(tile, (TILE, TILE), order=1, anti_aliasing=True,
                              preserve_range=True)
            pair.append(tile.astype(np.float32))
        tiles.append(tuple(pair))
    return tiles


def random_similarity(rng: np.random.Generator, shape=(TILE, TILE),
                      scale_range: tuple[float, float] = SCALE_RANGE) -> SimilarityTransform:
    """A similarity about the image centre: turn within +-MAX_ANGLE, scale (log-uniform in
    ``scale_range``), shift."""
    angle = np.deg2rad(rng.uniform(-MAX_ANGLE, MAX_ANGLE))
    scale = float(np.exp(rng.uniform(*np.log(scale_range))))
    shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2)
    centre = np.array([shape[1] - 1, shape[0] - 1]) / 2
    to_origin = SimilarityTransform(translation=-centre)
    turn = SimilarityTransform(scale=scale, rotation=angle)
    back = SimilarityTransform(translation=centre + shift)
    return SimilarityTransform(matrix=back.params @ turn.params @ to_origin.params)


def warp_pair(optical: np.ndarray, sar: np.ndarray, truth: SimilarityTransform,
              upscale: int = 1):
    """(fixed, moving): the optical tile and the SAR tile moved by ``truth``.

    ``truth`` maps fixed (x, y) to moving (x, y). ``upscale`` enlarges both
    tiles first (2 gives 512 x 512 pairs, for timing).
    """
    if upscale != 1:
        size = (optical.shape[0] * upscale, optical.shape[1] * upscale)
        optical = resize(optical, size, order=3, preserve_range=True).astype(np.float32)
        sar = resize(sar, size, order=3, preserve_range=True).astype(np.float32)
        zoom = np.diag([upscale, upscale, 1.0])
        truth = type(truth)(matrix=zoom @ truth.params @ np.linalg.inv(zoom))
    moving = warp(sar, truth.inverse, order=1, cval=np.nan, preserve_range=True)
    return optical, moving.astype(np.float32), truth


def s1s2_fragments() -> list[str]:
    """The Sentinel-1 / Sentinel-2 fragments' numbers (``'003'``...), sorted."""
    return sorted({name.rsplit("/", 1)[1].removesuffix(".png")
                   for name in OPTICAL_SAR_S1S2_FILES})


def _s1s2_tiles(first: int):
    """Yield (fragment position, tile index, name, optical, SAR) of the fragments at positions
    ``first``, ``first + 2``... (see the module docstring), but those of
    :data:`S1S2_LEFT_OUT`."""
    for index, fragment in enumerate(s1s2_fragments()):
        if index % 2 != first or fragment in S1S2_LEFT_OUT:
            continue
        optical, sar = (read_image(fetch(f"optical_sar/s1s2/{kind}/{fragment}.png"))
                        .astype(np.float32) for kind in ("opt", "sar"))
        for k, (y, x) in enumerate(S1S2_TILE_CORNERS):
            yield (index, k, f"S1S2_{fragment}_{k}", optical[y:y + TILE, x:x + TILE],
                   sar[y:y + TILE, x:x + TILE])


def _sen1floods11_tiles():
    """Yield (polarisation index, tile index, name, optical, SAR) of the Sen1Floods11 chip:
    every tile of :data:`SEN1FLOODS11_TILE_CORNERS` with VV (0), then with VH (1)."""
    sar_file, optical_file = (read_raster(fetch(name)).data for name in SEN1FLOODS11_CHIP)
    red_green_blue = np.moveaxis(optical_file[[3, 2, 1]].astype(np.float32), 0, -1)
    optical = rgb_to_gray(red_green_blue).astype(np.float32)
    for index, polarisation in enumerate(("VV", "VH")):
        intensity = (10.0 ** (sar_file[index].astype(np.float64) / 10.0)).astype(np.float32)
        for k, (y, x) in enumerate(SEN1FLOODS11_TILE_CORNERS):
            yield (index, k, f"SF11_{polarisation}_{k}", optical[y:y + TILE, x:x + TILE],
                   intensity[y:y + TILE, x:x + TILE])


def bigearthnet_example_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(patch tag, optical gray, SAR (2, 120, 120) VV and VH intensity) of the six
    BigEarthNet example patch pairs in bigearthnet-common's wheel, sorted by tag; the
    optical gray is that of bands 4, 3, 2 (float32), the SAR bands are brought from dB."""
    import rasterio

    def archive_bands(wheel: zipfile.ZipFile, archive: str,
                      suffixes: tuple[str, ...]) -> dict[str, np.ndarray]:
        """{patch tag ('87_48'): stacked bands} of one of the wheel's archives."""
        packed = wheel.read(f"bigearthnet_common/{archive}.tar.bz2")
        found = {}
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:bz2") as tar:
            folders = sorted({m.name.split("/")[1] for m in tar.getmembers()
                              if m.name.count("/") == 2})
            for folder in folders:
                bands = []
                for suffix in suffixes:
                    member = tar.extractfile(f"{archive}/{folder}/{folder}_{suffix}.tif")
                    with rasterio.MemoryFile(member.read()) as memory, memory.open() as band:
                        bands.append(band.read(1).astype(np.float64))
                found["_".join(folder.split("_")[-2:])] = np.stack(bands)
        return found

    with zipfile.ZipFile(fetch(BIGEARTHNET_WHEEL)) as wheel:
        sar = archive_bands(wheel, "BigEarthNet-S1-Example", ("VV", "VH"))
        optical = archive_bands(wheel, "BigEarthNet-S2-Example", ("B04", "B03", "B02"))
    if sorted(sar) != sorted(optical):
        raise ValueError(f"the example patches do not pair: {sorted(sar)} against "
                         f"{sorted(optical)}")
    return [(tag, rgb_to_gray(np.moveaxis(optical[tag], 0, -1).astype(np.float32))
             .astype(np.float32), (10.0 ** (sar[tag] / 10.0)).astype(np.float32))
            for tag in sorted(sar)]


def _bigearthnet_tiles():
    """Yield (polarisation index, patch index, name, optical, SAR) of the BigEarthNet example
    patches: every patch with VV (0), then with VH (1)."""
    pairs = bigearthnet_example_pairs()
    for index, polarisation in enumerate(("VV", "VH")):
        for k, (tag, optical, sar) in enumerate(pairs):
            yield index, k, f"BEN_{polarisation}_{tag}", optical, sar[index]


def split_tiles(split: str, tiles: str = "3mos"):
    """Yield (strip or fragment index, tile index, name, optical, SAR) of one split's
    unwarped tile pairs, in the order of :func:`development_pairs` and :func:`canvas_pairs`
    (one pair per tile); ``tiles``: ``'3mos'`` (the preview strips), ``'s1s2'`` (the
    Sentinel-1 / Sentinel-2 fragments), ``'sen1floods11'`` (its chip) or ``'bigearthnet'``
    (the example patches; these two ``'held_out'`` only)."""
    if split not in ("tune", "held_out"):
        raise ValueError(f"split must be 'tune' or 'held_out', got {split!r}")
    if tiles not in TILE_SOURCES:
        raise ValueError(f"tiles must be one of {TILE_SOURCES}, got {tiles!r}")
    evaluation_only = {"sen1floods11": ("the Sen1Floods11 tiles", _sen1floods11_tiles),
                       "bigearthnet": ("the BigEarthNet patches", _bigearthnet_tiles)}
    if tiles in evaluation_only:
        label, tile_pairs = evaluation_only[tiles]
        if split != "held_out":
            raise ValueError(f"{label} are evaluation data: split must be 'held_out', "
                             f"got {split!r}")
        yield from tile_pairs()
        return
    first = 0 if split == "tune" else 1
    if tiles == "s1s2":
        yield from _s1s2_tiles(first)
        return
    for index, strip in enumerate(OPTICAL_SAR_STRIPS):
        label = strip.rsplit("/", 1)[1].removesuffix(".png")
        for k, (optical, sar) in enumerate(strip_tiles(strip)):
            if k % 2 == first:
                yield index, k, f"{label}_{k}", optical, sar


def stretch_about_centre(p: float, q: float, shape=(TILE, TILE)) -> np.ndarray:
    """The affine map ``[[1 + p, q], [q, 1 - p]]`` about the centre of ``shape``: the part of
    a linear map that a similarity lacks (a stretch along one direction, a shrink across)."""
    centre = np.array([shape[1] - 1, shape[0] - 1]) / 2
    stretch = np.eye(3)
    stretch[:2, :2] = [[1 + p, q], [q, 1 - p]]
    stretch[:2, 2] = centre - stretch[:2, :2] @ centre
    return stretch


def development_pairs(split: str = "held_out", seed: int = 21, upscale: int = 1,
                      scale_range: tuple[float, float] = SCALE_RANGE, stretch: float = 0.0,
                      tiles: str = "3mos"):
    """Yield (name, fixed optical, moving SAR, truth) for one split.

    ``truth`` maps fixed (x, y) to moving (x, y), the direction of
    :attr:`sarfeat.RegistrationResult.transform`. ``scale_range`` widens the
    warps' scales (``(0.5, 2)``: pairs scaled beyond the default search; the
    same seeds, so the same turns and shifts). ``stretch`` > 0 makes the truth
    affine: the similarity after :func:`stretch_about_centre` of the fixed
    image with ``p`` and ``q`` uniform in +-``stretch`` (drawn after the
    similarity, from the same generator; an AffineTransform truth). ``tiles``: the
    tile pairs' source (:func:`split_tiles`).
    """
    for index, k, name, optical, sar in split_tiles(split, tiles):
        rng = np.random.default_rng([seed, index, k])
        truth = random_similarity(rng, optical.shape, scale_range=scale_range)
        if stretch:
            p, q = rng.uniform(-stretch, stretch, 2)
            truth = AffineTransform(matrix=truth.params
                                    @ stretch_about_centre(p, q, optical.shape))
        fixed, moving, truth = warp_pair(optical, sar, truth, upscale)
        yield name, fixed, moving, truth


#: Scales of the canvas pairs' optical images (canvas pixels per tile pixel).
CANVAS_SCALE_RANGE = (0.5, 2.0)


def onto_canvas(optical: np.ndarray, angle: float, scale: float, fill: float = 0.0):
    """(canvas, truth): ``optical`` turned by ``angle`` degrees and scaled by ``scale`` about
    its centre onto a square canvas of ``round(side * scale)`` pixels, ``fill`` outside;
    ``truth`` maps canvas (x, y) to tile (x, y).

    A reduction is Gaussian-prefiltered first (sigma ``0.5 sqrt(1/scale^2 - 1)``).
    """
    side = int(round(optical.shape[0] * scale))
    tile_centre = (np.array(optical.shape[::-1]) - 1) / 2
    middle = (side - 1) / 2
    truth = (SimilarityTransform(translation=tile_centre).params
             @ SimilarityTransform(scale=1 / scale, rotation=np.deg2rad(-angle)).params
             @ SimilarityTransform(translation=(-middle, -middle)).params)
    source = optical if scale >= 1 else ndimage.gaussian_filter(
        optical, 0.5 * np.sqrt(1 / scale ** 2 - 1))
    canvas = warp(source, SimilarityTransform(matrix=truth), output_shape=(side, side),
                  order=1, cval=np.nan, preserve_range=True)
    return np.where(np.isfinite(canvas), canvas, fill).astype(np.float32), truth


def canvas_pairs(split: str = "held_out", seed: int = 7,
                 scale_range: tuple[float, float] = CANVAS_SCALE_RANGE, upscale: int = 1,
                 tiles: str = "3mos"):
    """Yield (name, optical canvas, SAR tile, truth) for one split (see the module
    docstring): the turn uniform in +-MAX_ANGLE, the scale log-uniform in ``scale_range``.

    ``truth`` (a similarity, as :func:`development_pairs` gives) maps optical canvas
    (x, y) to SAR (x, y). ``upscale``
    enlarges both tiles first (2: a 512 px SAR tile, as EOSS's pairs). ``tiles``: the
    tile pairs' source (:func:`split_tiles`).
    """
    for index, k, name, optical, sar in split_tiles(split, tiles):
        rng = np.random.default_rng([seed, index, k])
        angle = rng.uniform(-MAX_ANGLE, MAX_ANGLE)
        scale = float(np.exp(rng.uniform(*np.log(scale_range))))
        if upscale != 1:
            size = (optical.shape[0] * upscale, optical.shape[1] * upscale)
            optical, sar = (resize(image, size, order=3, preserve_range=True)
                            .astype(np.float32) for image in (optical, sar))
        canvas, truth = onto_canvas(optical, angle, scale)
        yield name, canvas, sar, SimilarityTransform(matrix=truth)
