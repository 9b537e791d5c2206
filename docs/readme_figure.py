"""Write ``docs/_static/registered_pair.png``, the picture of a registered pair in README.md.

It is the last figure of the gallery example ``examples/plot_register_pair.py``
(the bundled Sentinel-1 scene: VV against a known warp of VH, checkerboards
before and after registration), saved small, in gray levels. Run from the repository root::

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


def main() -> Path:
    """Run the example and save its last figure; return the path written."""
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    figure = plt.figure(plt.get_fignums()[-1])
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    from PIL import Image  # matplotlib's own dependency

    buffer.seek(0)
    Image.open(buffer).convert("L").save(OUTPUT, optimize=True)  # gray: a third of the bytes
    return OUTPUT


if __name__ == "__main__":
    path = main()
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
