"""asv: optical-SAR registration on the 3MOS development pairs (issue 21).

A tenth of the held-out pairs of :mod:`optical_sar_pairs` (every 12th pair:
3MOS optical tiles against their SAR tiles turned by up to 90 degrees, scaled
by 0.7-1.4 and shifted), registered once per asv run by sarfeat
(``modality='optical-sar'``; also told each pair's turn and scale, as
georeferencing tells them: ``sarfeat-told-pose``) and by OpenCV SIFT and AKAZE +
RANSAC in the same run (:mod:`eval_optical_sar`); the share within 3 px and the wrong transforms are
also tracked against the re-aligned truth (``*_realigned``: each tile pair moved by
its re-aligned offset where it has one, :mod:`check_3mos_alignment`, measured on
the unwarped tiles of the pairs used). The 3MOS strips are fetched by
:func:`sarfeat.data.fetch` (pinned URL and SHA-256); without them (offline, no
``SARFEAT_DATA_DIR`` copy) the benchmarks are skipped.

:class:`LargeOpticalSARPair` times ``register`` on the bundled tile pair enlarged
to 512, 1024 and 2048 px and tracks its RMSE (the refinement to full resolution).

:class:`RealOpticalSARPairs` does the same on the real pairs of
:mod:`real_optical_sar_pairs` (three public repositories, 30 pairs since EOSS's
were added, evaluation only: never tuned on), skipped without their files, and
adds sarfeat with the whole circle searched (``sarfeat-any-turn``).

:class:`StretchedOpticalSARPairs` tracks sarfeat and ``dense_model='affine'``
(``sarfeat-affine``) on a tenth of the held-out pairs stretched by up to 3 %
(``eval_optical_sar.py --stretch 0.03``: an affine truth that no similarity fits).

:class:`CanvasOpticalSARPairs` tracks the same figures on a tenth of the held-out
canvas pairs (:func:`optical_sar_pairs.canvas_pairs`: the optical tile turned and
scaled by 0.5-2 onto a black-cornered canvas, the SAR tile as it is: EOSS's
geometry, and the one issue 21 describes for its acceptance pairs).

:class:`Sentinel1Sentinel2Pairs` tracks them on a tenth of the held-out canvas pairs
made of the Sentinel-1 / Sentinel-2 fragments (``tiles='s1s2'``: 10 m, hand-aligned,
fetched like the strips, skipped without them), their alignment measured within
``S1S2_REACH`` px (the GRD images lie up to 16 px off over relief).
:class:`TerrainCorrectedSentinelPairs` tracks them on every canvas pair of Sen1Floods11's
terrain-corrected Sentinel-1 / Sentinel-2 chip (``tiles='sen1floods11'``, evaluation only),
and :class:`BigEarthNetPairs` on every canvas pair of BigEarthNet's six terrain-corrected
example patches, enlarged twice (``tiles='bigearthnet'``, evaluation only).

:class:`UnrelatedOpticalSARPairs` counts the transforms each method returns for pairs that
do not show the same place (:mod:`eval_unrelated`: a 3MOS tuning tile's optical image
against another tile's SAR image), every one of them wrong.
"""

from __future__ import annotations

from .common import SlowTiming, use_shared_data

_STEP = 12
#: ``sarfeat-told-pose``: told each pair's turn and scale as georeferencing tells them (within
#: 1 degree and 2 %): how far the fine stage gets with the search out of the way.
_METHODS = ("sarfeat", "sarfeat-told-pose", "sift", "akaze")
#: The real pairs also with the whole circle searched (``--turns any``): EOSS's pairs are
#: turned by up to 152 degrees.
_REAL_METHODS = ("sarfeat", "sarfeat-any-turn", "sift", "akaze")
#: The stretched pairs (``eval_optical_sar.py --stretch``): the similarity against the affine
#: dense model, on pairs that no similarity fits.
_STRETCH = 0.03
_STRETCH_METHODS = ("sarfeat", "sarfeat-affine")
#: Largest shift (px) of the alignment measures on the Sentinel-1 / Sentinel-2 tiles
#: (``check_3mos_alignment.py --tiles s1s2 --reach 16``).
S1S2_REACH = 16


def _fetchable(names: str, prefix: str = "") -> bool:
    """Whether every file of ``sarfeat.data.<names>`` (those starting with ``prefix``) can
    be had (False on a sarfeat without that list, or offline with no local copy)."""
    try:
        from sarfeat import data
    except ImportError:
        return False
    try:
        listed = getattr(data, names)
        for name in listed() if callable(listed) else listed:
            if name.startswith(prefix):
                data.fetch(name)
    except (AttributeError, data.DataUnavailableError):
        return False
    return True


#: The files of each tile source: (the list in sarfeat.data, the names' prefix).
_TILE_FILES = {"3mos": ("OPTICAL_SAR_STRIPS", ""), "s1s2": ("OPTICAL_SAR_S1S2_FILES", ""),
               "sen1floods11": ("OPTICAL_SAR_EVALUATION_FILES", "optical_sar/sen1floods11/"),
               "bigearthnet": ("registry_names", "sources/bigearthnet_common")}


def _held_out_figures(canvas: bool, methods=_METHODS, stretch: float = 0.0,
                      tiles: str = "3mos", step: int = _STEP, upscale: int = 1):
    """Per method of ``methods``, the figures of every ``step``-th held-out pair (the canvas
    pairs with ``canvas``; stretched pairs with ``stretch``; ``tiles``: the tile pairs'
    source; ``upscale``: the tiles enlarged) against the published truth and, under
    ``'<method>/realigned'``, the re-aligned one; None without the tiles' files."""
    use_shared_data()
    if not _fetchable(*_TILE_FILES[tiles]):
        return None
    from .check_3mos_alignment import REACH, measure_tile
    from .eval_optical_sar import evaluate, summary
    from .optical_sar_pairs import split_tiles

    reach = S1S2_REACH if tiles == "s1s2" else REACH
    offsets, sure = {}, set()  # the tiles of the pairs evaluated: re-aligned, sure truth
    for index, (*_, name, optical, sar) in enumerate(split_tiles("held_out", tiles)):
        if index % step:
            continue
        measured = measure_tile(optical, sar, reach)
        if measured["realigned_offset"] is not None:
            offsets[name] = tuple(measured["realigned_offset"])
        if measured["truth_sure"]:
            sure.add(name)
    rows = evaluate("held_out", None, upscale, list(methods), step, canvas=canvas,
                    offsets=offsets, stretch=stretch, tiles=tiles)
    figures = {name: summary(rows[name]) for name in methods}
    figures.update({f"{name}/realigned": summary(rows[name], column=5) for name in methods})
    figures.update({f"{name}/sure_truth": summary([row for row in rows[name] if row[0] in sure],
                                                  column=5) for name in methods})
    return figures


def _tracked(block: str, figure: str, unit: str):
    """An asv track method returning ``figure`` of the method's figures (``block``: '' for
    the published truth, '/realigned' or '/sure_truth')."""
    def track(self, results, method):
        return results[f"{method}{block}"][figure]

    track.unit = unit
    return track


class OpticalSARPairs(SlowTiming):
    """Share within 3 px, wrong transforms returned and CPU time, per method."""

    params = list(_METHODS)
    param_names = ["method"]

    def setup_cache(self):
        return _held_out_figures(canvas=False)

    def setup(self, results, method):
        if results is None:
            raise NotImplementedError("no 3MOS data (offline) or no optical-SAR support")

    track_share_within_3px = _tracked("", "share_within_3px", "share of pairs")
    track_wrong_returned = _tracked("", "wrong_returned", "pairs")
    track_cpu_seconds = _tracked("", "median_cpu_s", "s")
    track_share_within_3px_realigned = _tracked("/realigned", "share_within_3px",
                                                "share of pairs")
    track_wrong_returned_realigned = _tracked("/realigned", "wrong_returned", "pairs")
    # only the pairs whose tiles' two alignment measures agree within 1.5 px
    track_share_within_3px_sure_truth = _tracked("/sure_truth", "share_within_3px",
                                                 "share of pairs")
    track_wrong_returned_sure_truth = _tracked("/sure_truth", "wrong_returned", "pairs")


class CanvasOpticalSARPairs(OpticalSARPairs):
    """The same figures on the canvas pairs (every 12th held-out pair)."""

    def setup_cache(self):
        return _held_out_figures(canvas=True)


class Sentinel1Sentinel2Pairs(OpticalSARPairs):
    """The same figures on the canvas pairs of the Sentinel-1 / Sentinel-2 fragments (every
    12th held-out pair, ``tiles='s1s2'``)."""

    def setup_cache(self):
        return _held_out_figures(canvas=True, tiles="s1s2")

    def setup(self, results, method):
        if results is None:
            raise NotImplementedError("no Sentinel-1 / Sentinel-2 fragments (offline)")


class TerrainCorrectedSentinelPairs(OpticalSARPairs):
    """The same figures on the canvas pairs of Sen1Floods11's terrain-corrected chip (every
    pair: 18, ``tiles='sen1floods11'``, evaluation only), where the truth is the
    georeferencing and no relief displaces it."""

    def setup_cache(self):
        return _held_out_figures(canvas=True, tiles="sen1floods11", step=1)

    def setup(self, results, method):
        if results is None:
            raise NotImplementedError("no Sen1Floods11 chip (offline)")


class BigEarthNetPairs(OpticalSARPairs):
    """The same figures on the canvas pairs of BigEarthNet's six example patch pairs (VV and
    VH: 12, ``tiles='bigearthnet'``, evaluation only), terrain-corrected Sentinel-1 on the
    Sentinel-2 grid; the 120 px patches enlarged twice, errors in the enlarged pixels."""

    def setup_cache(self):
        return _held_out_figures(canvas=True, tiles="bigearthnet", step=1, upscale=2)

    def setup(self, results, method):
        if results is None:
            raise NotImplementedError("no bigearthnet-common wheel (offline)")


class StretchedOpticalSARPairs(OpticalSARPairs):
    """The same figures on stretched pairs (every 12th held-out pair after a stretch of up
    to 3 %, ``eval_optical_sar.py --stretch 0.03``): the default (a similarity, stretched
    where its check templates drift: ``stretch_check``) against ``dense_model='affine'``."""

    params = list(_STRETCH_METHODS)

    def setup_cache(self):
        return _held_out_figures(canvas=False, methods=_STRETCH_METHODS, stretch=_STRETCH)


class RealOpticalSARPairs(SlowTiming):
    """The same figures on the real optical-SAR pairs (evaluation only; 30 since EOSS's),
    and with the whole circle searched."""

    params = list(_REAL_METHODS)
    param_names = ["method"]

    def setup_cache(self):
        use_shared_data()
        if not _fetchable("OPTICAL_SAR_EVALUATION_FILES"):
            return None
        from .eval_optical_sar import evaluate_real, summary

        rows = evaluate_real(None, list(_REAL_METHODS))
        return {name: summary(rows[name]) for name in _REAL_METHODS}

    # The work is what the figures are: 120 timed registrations (every pair by each method,
    # the CPU time of each call a tracked figure), 99.6 % of the run in a profile (loading
    # and scoring the pairs 1.3 s). 275 s of CPU, 344 s wall on one thread of a shared 2-core
    # AMD EPYC (Zen 4), 2026-12-07; 394 s seen on a busier one, within reach of
    # SlowTiming's 900 s on a slower or busier machine: twice that, for this cache alone.
    setup_cache.timeout = 1800

    def setup(self, results, method):
        if results is None:
            raise NotImplementedError("the real optical-SAR pairs are not available")

    track_share_within_3px = OpticalSARPairs.track_share_within_3px
    track_wrong_returned = OpticalSARPairs.track_wrong_returned
    track_cpu_seconds = OpticalSARPairs.track_cpu_seconds


class LargeOpticalSARPair(SlowTiming):
    """Time and accuracy of ``register`` on the bundled 3MOS tile pair enlarged to a side
    of 512, 1024 or 2048 px (a turn of 20 degrees, a scale of 0.9 and a shift): the transform
    found at 256 px is refined up to the full size (``diagnostics['refined_size']``)."""

    params = [512, 1024, 2048]
    param_names = ["side"]

    def setup(self, side):
        import numpy as np
        from skimage.transform import SimilarityTransform, resize, warp

        try:
            from sarfeat.data import load_optical_sar_tile
        except ImportError:
            raise NotImplementedError("no optical-SAR support") from None
        optical, sar = (resize(image, (side, side), order=1, preserve_range=True)
                        .astype(np.float32) for image in load_optical_sar_tile())
        centre = np.array([(side - 1) / 2] * 2)
        self.truth = (SimilarityTransform(translation=-centre)
                      + SimilarityTransform(rotation=np.deg2rad(20), scale=0.9)
                      + SimilarityTransform(translation=centre + np.array([8, -5]) * side / 256))
        moved = warp(sar, self.truth.inverse, order=1, cval=np.nan, preserve_range=True)
        self.pair = optical, moved.astype(np.float32)
        # the first registration in a process pays for imports and first allocations
        # (about half a second): made once on the tile itself
        import sarfeat

        try:
            sarfeat.register(*load_optical_sar_tile(), modality="optical-sar", progress=False)
        except sarfeat.RegistrationError:
            pass  # a warm-up: its answer does not matter

    def _register(self):
        import sarfeat

        return sarfeat.register(*self.pair, modality="optical-sar", rng=0, progress=False)

    def time_register(self, side):
        self._register()

    def track_rmse(self, side):
        from sarfeat.metrics import registration_rmse

        result = self._register()
        shape = self.pair[0].shape
        return registration_rmse(result.transform, self.truth.params, shape, shape)

    track_rmse.unit = "pixels"


class UnrelatedOpticalSARPairs(SlowTiming):
    """Transforms returned for pairs that do not show the same place, every one wrong: the
    optical image of every 12th 3MOS tuning pair against the SAR image of the next one chosen
    (``eval_unrelated.py --shifts 1``: 10 pairs), per method. Fewer is better; sarfeat's
    refusals are what it should do."""

    params = ["sarfeat", "sift", "akaze"]
    param_names = ["method"]

    def setup_cache(self):
        import io

        use_shared_data()
        if not _fetchable(*_TILE_FILES["3mos"]):
            return None
        from .eval_unrelated import evaluate, optical_sar_pairs, summary

        rows = []
        evaluate("3mos", optical_sar_pairs("3mos", "3mos", "tune", _STEP), [1],
                 list(self.params), "optical", rows, out=io.StringIO())
        return summary(rows)

    def setup(self, results, method):
        if results is None:
            raise NotImplementedError("no 3MOS data (offline) or no optical-SAR support")

    def track_unrelated_returned(self, results, method):
        return results[f"3mos unrelated {method}"]["returned"]

    track_unrelated_returned.unit = "pairs"
