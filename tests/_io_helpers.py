"""What the sarfeat.io tests share (test_io*.py): a UTM grid of 10 m pixels. It needs
rasterio: a module imports it after ``pytest.importorskip("rasterio")``."""

from __future__ import annotations

from rasterio.crs import CRS
from rasterio.transform import Affine

UTM = CRS.from_epsg(32633)
GEO = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5600000.0)
