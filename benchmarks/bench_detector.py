"""Speed and memory of SARR2D2Detector beside OpenCV SIFT and scikit-image SIFT.

A plain script, run from the repository root::

    SARFEAT_DATA_DIR=../shared/data python benchmarks/bench_detector.py

It prints one table (see ``benchmarks/README.md`` for what is measured): the
time of ``detect_and_extract`` for ``runtime='auto'`` and for every runtime and
precision that runs here (torch fp32 and bf16, ONNX Runtime fp32 and int8 when
``sarfeat[fast]`` is installed), each as a ratio to OpenCV SIFT in the same run,
on development image m1 (1000 x 1000) and two ``--size`` images; then the peak
memory of a large scene. With ``--json OUT`` it writes the numbers to a JSON
file. The detector alone, on m1, in about two minutes::

    SARFEAT_DATA_DIR=../shared/data python benchmarks/bench_detector.py \
        --images m1 --skip-skimage --skip-memory

and the default detector alone against OpenCV SIFT in under a minute with
``--default-only --weights sarfeat-sar-v1``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/, sarfeat/
from benchmarks.common import peak_rss_mib  # noqa: E402

DEFAULT_WEIGHTS = "weights/faster2d2_WASF_N16.pt"
SPECKLE_SEED = 0


# -- images ----------------------------------------------------------------------------------


def development_image(letter: str = "m") -> np.ndarray:
    """Image 1 of a development pair (m: 1000 x 1000), as the 8-bit quick-look it is."""
    from skimage.util import img_as_ubyte

    from sarfeat.data import load_pair

    return img_as_ubyte(load_pair(letter)[0])


def pair_crop(size: int) -> np.ndarray:
    """Centre crop of development pair i, image 1, as an 8-bit display image."""
    from skimage.util import img_as_ubyte

    from sarfeat.data import load_pair

    image = load_pair("i")[0]
    rows, cols = image.shape
    if min(rows, cols) < size:
        raise SystemExit(f"pair i is {rows} x {cols}: --size must be at most {min(rows, cols)}")
    r0, c0 = (rows - size) // 2, (cols - size) // 2
    return img_as_ubyte(image[r0:r0 + size, c0:c0 + size])  # load_pair gives uint8 quick-looks


def clean_scene(size: int) -> np.ndarray:
    """The Labrador VV intensity upsampled (bilinear) to ``size`` x ``size``, float32."""
    from skimage.transform import resize

    from sarfeat.data import load_sar_scene

    vv = load_sar_scene("labrador")[..., 0]
    return resize(vv, (size, size), order=1, preserve_range=True, anti_aliasing=False).astype(
        np.float32
    )


def speckled_scene(size: int, seed: int = SPECKLE_SEED) -> np.ndarray:
    """Single-look-like intensity: the upsampled scene times unit-mean Gamma(1, 1) speckle."""
    rng = np.random.default_rng(seed)
    scene = clean_scene(size)
    return scene * rng.gamma(1.0, 1.0, scene.shape).astype(np.float32)


def write_large_scene(path: Path, size: int, tile: int = 1024, seed: int = SPECKLE_SEED) -> None:
    """Write a ``size`` x ``size`` float32 speckled scene to ``path`` (.npy), block by block.

    The clean scene (Labrador VV upsampled to ``tile``) is mirror-tiled, so that
    there are no seams, and every block gets its own speckle; memory stays at a
    few blocks whatever ``size`` is.
    """
    rng = np.random.default_rng(seed)
    base = clean_scene(tile)
    row_of_tiles = np.concatenate(
        [base if j % 2 == 0 else base[:, ::-1] for j in range(-(-size // tile))], axis=1
    )[:, :size]
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(size, size))
    for i, r0 in enumerate(range(0, size, tile)):
        block = row_of_tiles if i % 2 == 0 else row_of_tiles[::-1]
        rows = min(tile, size - r0)
        out[r0:r0 + rows] = block[:rows] * rng.gamma(1.0, 1.0, (rows, size)).astype(np.float32)
    out.flush()
    del out


def to_display_uint8(image: np.ndarray) -> np.ndarray:
    """8-bit image for the SIFT peers: sarfeat's own normalisation (dB, 1-99 % stretch)."""
    from sarfeat.preprocess import normalize_sar

    if image.dtype == np.uint8:
        return image
    return np.round(normalize_sar(image).image * 255).astype(np.uint8)


# -- timing ----------------------------------------------------------------------------------


def timed(runs: dict, repeats: int) -> dict:
    """Median wall time of each ``run()`` over ``repeats`` rounds, interleaved.

    Every method is called once to warm up; then each round calls every method
    once, in an order turned by one place each round, so that a change of the
    machine's load (a shared machine) falls on all methods alike rather than on
    the one timed at that moment.
    """
    methods = list(runs)
    counts = {method: runs[method]() for method in methods}
    times: dict = {method: [] for method in methods}
    for round_ in range(repeats):
        shift = round_ % len(methods)
        for method in methods[shift:] + methods[:shift]:
            start = time.perf_counter()
            counts[method] = runs[method]()
            times[method].append(time.perf_counter() - start)
    return {method: {"median_s": statistics.median(times[method]), "times_s": times[method],
                     "keypoints": int(counts[method])} for method in methods}


def sarfeat_runner(net, image: np.ndarray, runtime: str = "auto", precision: str = "auto",
                   upright: bool = True, turned_maps: str = "auto"):
    from sarfeat import SARR2D2Detector

    detector = SARR2D2Detector(net, runtime=runtime, precision=precision, upright=upright,
                               turned_maps=turned_maps)

    def run() -> int:
        detector.detect_and_extract(image)
        return len(detector.keypoints)

    return run


def opencv_runner(image8: np.ndarray):
    import cv2

    sift = cv2.SIFT_create()

    def run() -> int:
        keypoints, _ = sift.detectAndCompute(image8, None)
        return len(keypoints)

    return run


def skimage_runner(image8: np.ndarray):
    from skimage.feature import SIFT

    def run() -> int:
        sift = SIFT()
        sift.detect_and_extract(image8)
        return len(sift.keypoints)

    return run


def resolve_weights(weights: str) -> str:
    """A checkpoint path, from a path, a weights alias or a sarfeat.data registry name."""
    from sarfeat import data

    if Path(weights).is_file():
        return str(Path(weights).resolve())
    weights = data.WEIGHT_ALIASES.get(weights, weights)  # 'sarfeat-sar-lite' -> its file
    if weights in data.registry_names():
        if not data.available(weights):
            raise SystemExit(
                f"weights {weights!r} not found in {data.data_dir()}: set "
                "SARFEAT_DATA_DIR=../shared/data or pass --weights PATH"
            )
        return str(data.fetch(weights))
    raise SystemExit(f"--weights {weights!r} is neither a file nor a registry name")


# -- memory (in a fresh process) -------------------------------------------------------------


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def memory_child(path: str, weights: str, max_size: int) -> None:
    """Body of the child process: import, load, detect; print a JSON line."""
    start = time.perf_counter()
    from sarfeat import SARR2D2Detector
    from sarfeat.checkpoint import load_checkpoint

    net = load_checkpoint(weights)
    after_import = _rss_mib()
    image = np.load(path)
    after_load = _rss_mib()
    detector = SARR2D2Detector(net, max_size=max_size)
    t0 = time.perf_counter()
    detector.detect_and_extract(image)
    detect_s = time.perf_counter() - t0
    print(json.dumps({
        "rss_after_import_mib": after_import,
        "rss_after_image_mib": after_load,
        "peak_rss_mib": peak_rss_mib(),
        "detect_s": detect_s,
        "total_s": time.perf_counter() - start,
        "keypoints": len(detector.keypoints),
        "image_mib": image.nbytes / 2**20,
    }))


def measure_memory(path: Path, weights: str, max_size: int, timeout: float) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--memory-child", str(path),
               "--weights", weights, "--max-size", str(max_size)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"memory child failed ({result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- report ----------------------------------------------------------------------------------


def machine() -> dict:
    import torch

    from sarfeat.runtime.choice import cpu_name

    cpu = cpu_name()
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": _onnxruntime_version(),
        "python": platform.python_version(),
    }


def _onnxruntime_version() -> str | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


def sarfeat_options(net) -> list[tuple[str, str]]:
    """The (runtime, precision) pairs worth timing on this CPU: ONNX Runtime's two, torch fp32.

    bf16 is among them only where the CPU computes it natively (elsewhere it is
    emulated, and far slower).
    """
    import torch

    from sarfeat.runtime.torch import native_bf16

    options = [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")]
    return options + ([("torch", "bf16")] if native_bf16(torch.device("cpu")) else [])


def auto_choice(net) -> str:
    """What ``runtime='auto', precision='auto'`` picks for ``net`` (a fixed rule)."""
    from sarfeat.runtime.choice import plan
    from sarfeat.weights import resolve_network_weights

    return " ".join(plan(resolve_network_weights(net), "cpu"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS,
                        help=f"checkpoint path or registry name (default {DEFAULT_WEIGHTS})")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the warm-up")
    parser.add_argument("--size", type=int, default=1024, help="side of the timing images")
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--memory-size", type=int, default=8192,
                        help="side of the memory image (default 8192)")
    parser.add_argument("--full-res-memory", action="store_true",
                        help="also measure max_size=memory-size (full resolution; minutes)")
    parser.add_argument("--images", nargs="+", default=["m1", "pair-i", "speckle"],
                        choices=["m1", "pair-i", "speckle"],
                        help="timing images (default all): development image m1 (1000x1000), "
                             "a --size crop of pair i, the speckled Labrador scene at --size")
    parser.add_argument("--skip-skimage", action="store_true", help="skip skimage SIFT (slow)")
    parser.add_argument("--default-only", action="store_true",
                        help="time only the default detector against the peers (the other "
                             "runtimes and the quarter-turn average take minutes)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write JSON here")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max-size", type=int, default=1024, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child is not None:
        memory_child(args.memory_child, args.weights, args.max_size)
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    from sarfeat.checkpoint import load_checkpoint
    from sarfeat.weights import turned_maps_companion

    weights = resolve_weights(args.weights)
    net = load_checkpoint(weights)
    info = machine()
    info["auto_choice"] = auto_choice(net)
    size = args.size
    makers = {
        "m1": ("(m) development image m1, 1000x1000 uint8", development_image),
        "pair-i": (f"(a) pair i, {size}x{size} centre crop, uint8 display",
                   lambda: pair_crop(size)),
        "speckle": (f"(b) Labrador VV x{size / 256:g} + Gamma(1,1) speckle, {size}x{size} float32",
                    lambda: speckled_scene(size)),
    }
    images = {makers[key][0]: makers[key][1]() for key in args.images}
    results = {}
    for label, image in images.items():
        image8 = to_display_uint8(image)
        # the default is rotation invariant: one run of the distilled turned-maps network
        # where the weights have one (given by name, the detector finds it), else four runs
        # of theirs (the quarter-turn average); the rest are upright
        rows = {"sarfeat default": sarfeat_runner(
                    args.weights if turned_maps_companion(args.weights) else net, image,
                    upright=False)}
        if not args.default_only and turned_maps_companion(args.weights):
            rows[f"sarfeat quarter-turn average ({info['auto_choice']})"] = sarfeat_runner(
                net, image, upright=False, turned_maps="average")
        if not args.default_only:
            rows[f"sarfeat upright auto ({info['auto_choice']})"] = sarfeat_runner(net, image)
            for runtime, precision in sarfeat_options(net):
                rows[f"sarfeat upright {runtime} {precision}"] = sarfeat_runner(
                    net, image, runtime, precision)
        rows["OpenCV SIFT"] = opencv_runner(image8)
        if not args.skip_skimage:
            rows["skimage SIFT"] = skimage_runner(image8)
        print(f"timing {', '.join(rows)} on {label}, interleaved ...", file=sys.stderr,
              flush=True)
        results[label] = timed(rows, args.repeats)

    memory = {}
    if not args.skip_memory:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "scene.npy"
            print(f"writing a {args.memory_size}^2 float32 scene ...", file=sys.stderr, flush=True)
            write_large_scene(path, args.memory_size)
            settings = [1024] + ([args.memory_size] if args.full_res_memory else [])
            for max_size in settings:
                print(f"memory run, max_size={max_size} ...", file=sys.stderr, flush=True)
                memory[f"max_size={max_size}"] = measure_memory(
                    path, weights, max_size, timeout=3600
                )

    report = {"machine": info, "weights": args.weights, "repeats": args.repeats,
              "size": size, "timing": results, "memory": memory,
              "memory_size": args.memory_size}
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.json}")
    return 0


def print_report(report: dict) -> None:
    info = report["machine"]
    print(f"machine: {info['cpu']}, {info['cpu_count']} CPUs, torch {info['torch']} "
          f"({info['torch_threads']} threads), onnxruntime {info['onnxruntime']}, "
          f"auto = {info['auto_choice']}")
    print(f"weights: {report['weights']}; detect_and_extract at default settings; "
          f"median of {report['repeats']} runs after 1 warm-up")
    print()
    width = max(len(label) for label in report["timing"])
    print(f"{'image':<{width}}  {'method':<32} {'median [s]':>10} {'keypoints':>10} "
          f"{'/ OpenCV SIFT':>14}")
    print("-" * (width + 70))
    for label, rows in report["timing"].items():
        sift = rows["OpenCV SIFT"]["median_s"]
        for method, row in rows.items():
            print(f"{label:<{width}}  {method:<32} {row['median_s']:>10.3f} "
                  f"{row['keypoints']:>10d} {row['median_s'] / sift:>13.2f}x")
    if report["memory"]:
        print()
        size = report["memory_size"]
        print(f"peak resident memory, {size}x{size} float32 speckled scene, fresh process "
              "(imports, weights and image included):")
        print(f"  {'setting':<16} {'peak RSS [MiB]':>15} {'after import+weights':>21} "
              f"{'after image':>12} {'detect [s]':>11} {'keypoints':>10}")
        for setting, row in report["memory"].items():
            print(f"  {setting:<16} {row['peak_rss_mib']:>15.0f} "
                  f"{row['rss_after_import_mib']:>21.0f} {row['rss_after_image_mib']:>12.0f} "
                  f"{row['detect_s']:>11.1f} {row['keypoints']:>10d}")


if __name__ == "__main__":
    sys.exit(main())
