"""Write ``docs/_static/registered_pair.png``, the picture of a registered pair in README.md.

It is the last figure of the gallery example ``examples/plot_register_pair.py``
(the bundled Sentinel-1 scene: VV against a known warp of VH, checkerboards
before and after registration), saved small: in 128 colours, enough for its gray
levels and the steel blue of no-data (:data:`sarfeat.viz.NODATA_COLOR`), which
gray levels alone would turn into a gray that reads as image content. Run from
the repository root::

    python docs/readme_figure.py
"""

from __future__ import annotations

import io
import runpy
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "plot_register_pair.py"
OUTPUT = ROOT / "docs" / "_static" / "registered_pair.png"


def main(output: Path = OUTPUT) -> Path:
    """Run the example and save its last figure to ``output``; return the path written."""
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    figure = plt.figure(plt.get_fignums()[-1])
    output.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    from PIL import Image  # matplotlib's own dependency

    buffer.seek(0)
    # a palette of 128 colours: the bytes of gray levels, half those of full colour
    Image.open(buffer).convert("RGB").quantize(colors=128).save(output, optimize=True)
    return output


if __name__ == "__main__":
    path = main()
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
