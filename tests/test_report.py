"""`snakemake --report` builds one self-contained HTML report with every figure and its caption.

The report is Snakemake's built-in HTML reporter: a React app with every figure embedded as a
base64 data URI. A copy of the report gets a small driver script that uses the report's own
navigation (``app.setView``, ``app.showResultInfo`` and a click on each result's view button)
to open every figure in turn; headless Chromium (Debian's ``chromium``, installed here when
missing and we are root) runs it with all host names unresolvable, then dumps the DOM and
takes a screenshot of the last figure opened. The tests check the numbers from both: every
figure loads at its file's pixel size, its caption is rendered with the params sections of
every rule upstream of it, and the screenshot shows the figure's pixels.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run, smoke_params
from PIL import Image

pytestmark = pytest.mark.slow

CATEGORY = "Rhythm"
SCREENSHOT_FIGURE = "zrnn_flow.png"  # the figure left open for the screenshot
WINDOW = (1600, 1000)
CHROMIUM_TIMEOUT_S = 90

# Collects script errors from the very start of the page (inserted first in <head>).
ERROR_HOOK = """<script>
window.__rnnlab_errors = [];
window.addEventListener("error", (ev) => window.__rnnlab_errors.push(String(ev.message)));
</script>"""

# Drives the report like a reader: every subcategory listing, then every result opened with
# its own "view" button; the figure named in the URL hash is opened last and stays on screen.
DRIVER = """<script id="rnnlab-driver">
(async function () {
  const probe = {
    done: false, step: "start", errors: [], description: null, category: "", subcategories: {},
    figures: {} };
  const out = document.createElement("pre");  // rewritten after every step
  out.id = "rnnlab-probe";
  out.hidden = true;
  document.body.appendChild(out);
  const save = (step) => {
    probe.step = step;
    out.textContent = JSON.stringify(probe);
  };
  const last = decodeURIComponent(location.hash.slice(1));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const nav = () => document.querySelector("#app nav");
  try {
    save("waiting for the app");
    for (let i = 0; i < 400 && !(typeof app !== "undefined" && nav()); i++) await sleep(25);
    if (!nav()) throw new Error("the report app never rendered");
    const description = document.querySelector("#app .prose");  // the workflow description
    probe.description = description ? description.innerText : null;
    const show = (view) => ReactDOM.flushSync(() => app.setView(view));
    for (const sub of Object.keys(categories[CATEGORY] || {})) {
      ReactDOM.flushSync(() => app.showCategory(CATEGORY));  // remounts the listing below
      probe.category = nav().innerText;
      show({ navbarMode: "subcategory", category: CATEGORY, subcategory: sub });
      probe.subcategories[sub] = nav().innerText;
      save("listed " + sub);
    }
    const paths = Object.keys(results).sort(
      (a, b) => Number(results[a].filename === last) - Number(results[b].filename === last));
    for (const path of paths) {
      ReactDOM.flushSync(() => app.showResultInfo(path));
      const eye = nav().querySelector("ul li a[type=button]");
      if (!eye) throw new Error("no view button for " + path);
      ReactDOM.flushSync(() => eye.click());
      const img = document.querySelector('#app img[src^="data:image/png"]');
      if (!img) throw new Error("no figure shown for " + path);
      save("loading " + path);
      // the load event, not img.decode(): virtual time waits for loads, not for decodes
      if (!img.complete) await new Promise((ok) => img.addEventListener("load", ok));
      const r = img.getBoundingClientRect();
      const caption = nav().querySelector("li.prose");
      probe.figures[results[path].filename] = {
        path: path,
        shown_is_this_result: img.src === results[path].data_uri,
        natural: [img.naturalWidth, img.naturalHeight],
        rect: [r.left, r.top, r.width, r.height],
        caption: caption ? caption.innerText : null,
        info: nav().innerText,
      };
      save("shown " + path);
    }
    probe.resources = performance.getEntriesByType("resource").map((entry) => entry.name);
    probe.viewport = [window.innerWidth, window.innerHeight, window.devicePixelRatio];
    probe.done = true;
  } catch (err) {
    probe.errors.push(String(err && err.stack ? err.stack : err));
  }
  probe.errors.push(...window.__rnnlab_errors);
  save(probe.done ? "done" : "failed");
})();
</script>""".replace("CATEGORY", json.dumps(CATEGORY))


def chromium_binary() -> str:
    """Debian's chromium; installed with apt when missing and we are root, else skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and we cannot apt-get install it (not root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
        if proc.returncode != 0:
            pytest.skip(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed chromium but no chromium binary is on PATH")
    return found


def figure_lineage() -> dict[str, tuple[set[str], set[str]]]:
    """Per figure file name: (rules upstream of it, params sections those rules read)."""
    from rnnlab.pipeline.dvcsync import load_rules

    rules = load_rules(ROOT)
    producer = {out: rule for rule in rules for out in rule.outputs}

    def walk(path: str, seen: set[str]) -> set[str]:
        rule = producer.get(path)
        if rule is None or rule.name in seen:
            return set()
        seen.add(rule.name)
        sections = set(rule.params_sections)
        for dep in rule.inputs:
            sections |= walk(dep, seen)
        return sections

    lineage = {}
    for out in producer:
        if out.endswith(".png"):
            seen: set[str] = set()
            sections = walk(out, seen)
            lineage[Path(out).name] = (seen, sections)
    return lineage


STUDIES = ("rhythm", "maturation", "v1", "condense", "toys")
STUDY_PATTERN = "(?:" + "|".join(STUDIES) + ")"


def study_of(figure: Path) -> str:
    """The study a figure belongs to: results/<study>/figures/<name>.png."""
    study = figure.parent.parent.name
    assert figure.parent.name == "figures" and study in STUDIES, figure
    return study


def first_paragraph(rst: Path) -> str:
    """The caption's opening paragraph (plain text by convention), whitespace-normalised."""
    para = rst.read_text(encoding="utf-8").strip().split("\n\n")[0]
    assert "{{" not in para and "``" not in para and "*" not in para, rst
    return " ".join(para.split())


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def report(smoke_run, tmp_path_factory) -> Path:
    """``snakemake --report`` on the smoke run, written outside the run directory."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    run(["snakemake", "--report", str(out)], cwd=smoke_run, timeout=300)
    return out


@pytest.fixture(scope="module")
def browser(report, tmp_path_factory) -> dict:
    """Headless Chromium on the driven report copy: the probe from the DOM and a screenshot."""
    chromium = chromium_binary()
    work = tmp_path_factory.mktemp("chromium")
    page = report.read_text(encoding="utf-8")
    head, sep, tail = page.partition("<head>")
    assert sep, "report has no <head>"
    page = head + sep + ERROR_HOOK + tail
    body, sep, end = page.rpartition("</body>")
    assert sep, "report has no </body>"
    driven = work / "driven.html"
    driven.write_text(body + DRIVER + sep + end, encoding="utf-8")
    shot = work / "screenshot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing off this machine can load
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=15000",
    ]
    url = f"{driven.as_uri()}#{SCREENSHOT_FIGURE}"

    def chrome(*extra: str, profile: str) -> subprocess.CompletedProcess:
        cmd = [chromium, *flags, f"--user-data-dir={work / profile}", *extra, url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return proc

    # one run per output: with both flags Chromium writes the screenshot only
    proc = chrome("--dump-dom", profile="profile-dom")
    found = re.search(r'<pre id="rnnlab-probe"[^>]*>(.*?)</pre>', proc.stdout, re.S)
    assert found, "driver output missing from the DOM dump:\n" + proc.stderr[-4000:]
    probe = json.loads(html.unescape(found.group(1)))
    assert probe["done"], f"driver stopped at {probe['step']!r}: {probe['errors']}"
    shot_proc = chrome(f"--screenshot={shot}", profile="profile-shot")
    assert shot.is_file(), shot_proc.stderr[-4000:]
    return {"probe": probe, "dom": proc.stdout, "screenshot": shot}


@pytest.fixture(scope="module")
def figures(smoke_run) -> dict[str, Path]:
    """Every figure the smoke run drew, by file name."""
    found = {p.name: p for p in sorted((smoke_run / "results").rglob("*.png"))}
    assert len(found) >= 9, sorted(found)
    return found


def locate(image: np.ndarray, template: np.ndarray) -> tuple[int, int]:
    """Top-left (row, column) where ``template`` best matches ``image`` (FFT correlation)."""
    spectrum = np.fft.rfft2(image - image.mean())
    kernel = np.fft.rfft2(template - template.mean(), s=image.shape)
    score = np.fft.irfft2(spectrum * np.conj(kernel), s=image.shape)
    row, col = np.unravel_index(int(score.argmax()), score.shape)
    return int(row), int(col)


def embedded_results(report: Path) -> dict:
    """The report's ``results`` table (path -> name, caption, data URI, ...)."""
    text = report.read_text(encoding="utf-8")
    found = re.search(r'<script id="results">\s*var results = (\{.*?\});\s*</script>', text, re.S)
    assert found, "no results table in the report"
    return json.loads(found.group(1))


def test_report_is_one_self_contained_html_file(smoke_run, report, figures) -> None:
    assert report.is_file() and report.stat().st_size > 100_000
    assert not (smoke_run / "report.html").exists()  # written where asked, nowhere else
    text = report.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html>")
    # nothing is fetched: no external src/href attributes, no <link> to anything
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    assert not re.search(r"<link\b", text, re.I)
    # every figure is embedded byte for byte as a PNG data URI
    results = embedded_results(report)
    by_name = {entry["filename"]: entry for entry in results.values()}
    assert set(by_name) == set(figures)
    for name, path in figures.items():
        header, _, payload = by_name[name]["data_uri"].partition(",")
        assert header.startswith("data:image/png;") and header.endswith(";base64"), header
        embedded = base64.b64decode(payload)
        assert hashlib.sha256(embedded).digest() == hashlib.sha256(path.read_bytes()).digest()


def test_dom_lists_every_figure_with_its_caption(browser, figures) -> None:
    probe = browser["probe"]
    assert probe["done"], probe["errors"]
    assert probe["errors"] == []
    assert probe["viewport"][0] == WINDOW[0] and probe["viewport"][2] == 1
    assert not [url for url in probe["resources"] if re.match(r"(?i)https?:", url)]
    params = smoke_params()["rhythm"]
    description = squash(probe["description"] or "")
    title = (ROOT / "workflow" / "report" / "workflow.rst").read_text(encoding="utf-8")
    assert title.splitlines()[0] in description
    assert f"N = {params['zrnn']['model']['n_hidden']} units" in description  # Jinja rendered
    subcategories = probe["subcategories"]
    assert len(subcategories) == 9
    for sub in subcategories:
        assert sub in probe["category"]
    for name in figures:  # each rhythm figure listed in exactly one subcategory
        if study_of(figures[name]) != "rhythm":
            continue
        hits = [sub for sub, text in subcategories.items() if f"/{name}" in text]
        assert len(hits) == 1, (name, hits)
    assert set(probe["figures"]) == set(figures)
    for name, shown in probe["figures"].items():
        dpi = smoke_params()[study_of(figures[name])]["figures"]["dpi"]
        caption = squash(shown["caption"] or "")
        rst = ROOT / "workflow" / "report" / (Path(name).stem + ".rst")
        assert rst.is_file(), f"no caption file for {name}"
        assert first_paragraph(rst) in caption, (name, caption)
        assert f"{dpi} dpi" in caption, (name, caption)  # Jinja values rendered
        assert "{{" not in caption and "System Message" not in caption, (name, caption)
        assert shown["path"] in shown["info"] and "fig_" in shown["info"]


def test_captions_name_every_rule_and_params_section_upstream(browser, figures) -> None:
    lineage = figure_lineage()
    assert set(lineage) == set(figures)
    for name, (rules, sections) in lineage.items():
        caption = squash(browser["probe"]["figures"][name]["caption"])
        study = study_of(figures[name])
        assert f"{study}.figures" in sections and len(sections) >= 2, (name, sections)
        missing = sorted(s for s in sections if s not in caption)
        assert not missing, f"{name}: caption does not name params sections {missing}"
        missing = sorted(r for r in rules if r not in caption)
        assert not missing, f"{name}: caption does not name rules {missing}"
        named = set(re.findall(rf"\b{STUDY_PATTERN}(?:\.[a-z_0-9]+)+", caption))
        assert named <= sections, f"{name}: caption names sections it does not read"


def test_every_figure_loads_and_the_screenshot_shows_it(browser, figures) -> None:
    probe = browser["probe"]
    for name, shown in probe["figures"].items():
        with Image.open(figures[name]) as im:
            size = list(im.size)
        assert shown["shown_is_this_result"], name
        assert shown["natural"] == size, (name, shown["natural"], size)
        assert shown["rect"][2] > 100 and shown["rect"][3] > 100, (name, shown["rect"])

    with Image.open(browser["screenshot"]) as im:
        shot = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert shot.shape == (WINDOW[1], WINDOW[0], 3)
    assert shot.std() > 20  # not a blank page
    rgb = shot.astype(np.int64)
    assert len(np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])) > 200

    # the figure left open is on screen: find it by cross-correlation (Chromium lays the page
    # out at a different height for --screenshot than for --dump-dom) and compare its pixels
    _, _, width, height = probe["figures"][SCREENSHOT_FIGURE]["rect"]
    with Image.open(figures[SCREENSHOT_FIGURE]) as im:
        ref = im.convert("RGB").resize((round(width), round(height)), Image.Resampling.BILINEAR)
    ref = np.asarray(ref, dtype=np.float64)
    y, x = locate(shot.mean(axis=2), ref.mean(axis=2))
    crop = shot[y : y + ref.shape[0], x : x + ref.shape[1]]
    assert crop.shape == ref.shape, f"{SCREENSHOT_FIGURE} is cut off at ({x}, {y})"
    assert crop.std() > 20 and (crop.mean(axis=2) < 200).mean() > 0.05  # drawn, not blank
    corr = np.corrcoef(crop.ravel(), ref.ravel())[0, 1]
    assert corr > 0.9, f"screenshot does not show {SCREENSHOT_FIGURE}: correlation {corr:.3f}"
    assert np.abs(crop - ref).mean() < 15
