"""The built documentation: the gallery's figures exist and pages render in a real browser.

These tests read the HTML that ``sphinx-build -b html docs docs/_build/html``
wrote (``SARFEAT_DOCS_HTML`` names another folder) and open pages in Debian's
chromium, headless (``SARFEAT_CHROMIUM`` names another browser binary). The
pages are served over HTTP from this process; a small check page loads each
one in a frame and reports, from inside the browser, its title, its style
sheets and, for every image, whether it was decoded (its natural size).

Without a build or a browser the tests skip, except when
``SARFEAT_REQUIRE_DATA=1`` (as in CI): then they fail.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.parse
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_HTML = Path(os.environ.get("SARFEAT_DOCS_HTML", REPO_ROOT / "docs" / "_build" / "html"))
EXAMPLES = sorted(path.stem for path in (REPO_ROOT / "examples").glob("plot_*.py"))
GALLERY_PAGE = "auto_examples/plot_register_pair.html"
CHECK_PATH = "/__sarfeat_check__.html"
#: A page served beside the docs whose image does not exist: the check must catch it.
BROKEN_PATH = "/__sarfeat_broken_image__.html"
BROKEN_PAGE = ('<html><head><title>broken</title></head><body>'
               '<img src="_images/no_such_figure.png"></body></html>')

#: Loads the page named by the query string in a tall frame (so that every image is in
#: view), then writes what the browser sees into #result as JSON.
CHECK_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>check</title></head>
<body><pre id="result">pending</pre>
<iframe id="page" src="/%(page)s" style="width:1280px;height:30000px;border:0"></iframe>
<script>
window.addEventListener("load", function () {
  var out = document.getElementById("result");
  try {
    var doc = document.getElementById("page").contentDocument;
    var images = Array.prototype.map.call(doc.images, function (img) {
      return {src: img.getAttribute("src"), cls: img.className, complete: img.complete,
              width: img.naturalWidth, height: img.naturalHeight};
    });
    out.textContent = JSON.stringify({
      title: doc.title, stylesheets: doc.styleSheets.length, images: images,
      text: doc.body ? doc.body.innerText : ""});
  } catch (error) {
    out.textContent = JSON.stringify({error: String(error)});
  }
});
</script></body></html>
"""


def _missing(reason: str) -> None:
    """Skip, or fail when ``SARFEAT_REQUIRE_DATA=1``."""
    if os.environ.get("SARFEAT_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason} (SARFEAT_REQUIRE_DATA=1: this is a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def built_docs() -> Path:
    """The folder of the built HTML documentation."""
    if not (DOCS_HTML / "index.html").is_file():
        _missing(f"no built documentation at {DOCS_HTML}: run "
                 "'sphinx-build -W --keep-going -b html docs docs/_build/html' first")
    return DOCS_HTML


@pytest.fixture(scope="module")
def chromium() -> str:
    """The path of a chromium (or chrome) binary."""
    for candidate in (os.environ.get("SARFEAT_CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    _missing("no chromium browser found (Debian: apt-get install chromium; or set "
             "SARFEAT_CHROMIUM)")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the built docs, the check page at CHECK_PATH?page=... and BROKEN_PATH."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        url = urllib.parse.urlsplit(self.path)
        if url.path == CHECK_PATH:
            page = urllib.parse.parse_qs(url.query)["page"][0]
            body = (CHECK_PAGE % {"page": html.escape(page)}).encode()
        elif url.path == BROKEN_PATH:
            body = BROKEN_PAGE.encode()
        else:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server(built_docs: Path):
    """An HTTP server of the built docs on a free local port; yields its base URL."""
    handler = functools.partial(_Handler, directory=str(built_docs))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _browse(chromium: str, url: str, profile: Path, *extra: str) -> str:
    """Run headless chromium on ``url`` and return its standard output."""
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        "--window-size=1280,1600", "--virtual-time-budget=20000", *extra, url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def rendered(chromium: str, server: str, page: str, profile: Path) -> dict:
    """What the browser reports for ``page`` (a path inside the built docs)."""
    query = urllib.parse.urlencode({"page": page})
    dom = _browse(chromium, f"{server}{CHECK_PATH}?{query}", profile, "--dump-dom")
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.DOTALL)
    assert found, f"the check page did not run: {dom[:500]}"
    report = json.loads(html.unescape(found.group(1)))
    assert "error" not in report, report.get("error")
    return report


def _assert_images_decoded(report: dict, page: str) -> None:
    broken = [image["src"] for image in report["images"]
              if not (image["complete"] and image["width"] > 0 and image["height"] > 0)]
    assert not broken, f"{page}: images not shown by the browser: {broken}"


def test_gallery_pages_and_figures_were_built(built_docs: Path) -> None:
    assert EXAMPLES, "no examples/plot_*.py found"
    for name in EXAMPLES:
        assert (built_docs / "auto_examples" / f"{name}.html").is_file(), f"no page for {name}"
        figures = list((built_docs / "_images").glob(f"sphx_glr_{name}_*.png"))
        assert figures, f"the gallery produced no figure for {name}"
        assert all(path.stat().st_size > 1000 for path in figures), f"empty figure in {name}"


def test_index_renders_with_its_images(chromium: str, server: str, tmp_path: Path) -> None:
    report = rendered(chromium, server, "index.html", tmp_path / "profile")
    assert "sarfeat" in report["title"]
    assert report["stylesheets"] >= 1, "the theme's style sheets did not load"
    assert "register" in report["text"]
    shown = [image for image in report["images"] if "registered_pair" in (image["src"] or "")]
    assert shown, "index.html has no picture of a registered pair"
    _assert_images_decoded(report, "index.html")


def test_gallery_page_renders_with_its_figures(chromium: str, server: str,
                                               tmp_path: Path) -> None:
    report = rendered(chromium, server, GALLERY_PAGE, tmp_path / "profile")
    assert "Register" in report["title"]
    assert report["stylesheets"] >= 1
    figures = [image for image in report["images"] if "sphx-glr" in image["cls"]]
    assert len(figures) >= 2, f"expected the example's figures, found {report['images']}"
    _assert_images_decoded(report, GALLERY_PAGE)
    assert "RMSE against the truth" in report["text"], "the example's output is missing"


def test_check_page_reports_a_missing_image(chromium: str, server: str,
                                            tmp_path: Path) -> None:
    # the check itself must be able to fail: a page whose image does not exist
    report = rendered(chromium, server, BROKEN_PATH.lstrip("/"), tmp_path / "profile")
    assert report["title"] == "broken"
    with pytest.raises(AssertionError, match="no_such_figure"):
        _assert_images_decoded(report, BROKEN_PATH)
