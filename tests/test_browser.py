"""The kit in JupyterLab as a person uses it: open a chapter, Run All Cells, read the result.

Starts JupyterLab exactly as ``make lab`` does (on copies of the chapters, so nothing in
``notebooks/`` is modified), drives Debian's headless Chromium with Playwright, and checks
that the default kernel imports ``swtwo_tf``, no cell errs, the figures render and the
"check your result" cell passes. Screenshots go to ``build/screenshots/``.

Run it alone with ``pytest -m browser``. Skipped, with the reason, when Chromium is missing
(``.ci/run`` installs it with apt).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from swtwo_tf import config
from swtwo_tf.course import chapter_notebooks

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
NOTEBOOKS = chapter_notebooks(config.REPO_ROOT / "notebooks")
# Chapter 00 (which trains a first small model) and chapter 03 (audio players, feature plots):
# the path a person takes, at a fraction of the CI time of a training chapter (nbval runs
# every chapter anyway).
CHAPTERS = [p for p in NOTEBOOKS if p.name.startswith(("00_", "03_"))] or NOTEBOOKS[:1]
LAB_SETTINGS = {
    # No "news" pop-up over the notebook, and every cell rendered (no virtual scrolling),
    # so the checks see all outputs.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab started by ``make lab`` on a free loopback port with a token."""
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does this)")
    root = tmp_path_factory.mktemp("lab")
    notebooks, jupyter = root / "notebooks", root / "jupyter"
    notebooks.mkdir()
    for path in CHAPTERS:
        shutil.copy(path, notebooks)
    for name, values in LAB_SETTINGS.items():
        target = jupyter / "settings" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, SWTWO_QUICK="1",
               JUPYTER_CONFIG_DIR=str(jupyter / "config"),
               JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(jupyter / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "workspaces"))
    env.pop("MAKEFLAGS", None)
    lab_args = (f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
                f"--IdentityProvider.token={token}")
    log = open(root / "lab.log", "w")  # closed after the server stops
    server = subprocess.Popen(
        ["make", "-C", str(config.REPO_ROOT), "--no-print-directory", "lab",
         f"LAB_DIR={notebooks}", f"LAB_ARGS={lab_args}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            specs = _get(f"{base}/api/kernelspecs?token={token}")
            break
        except (urllib.error.URLError, OSError):
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("JupyterLab did not start:\n" + (root / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
    yield {"base": base, "token": token, "notebooks": notebooks, "specs": specs,
           "runtime": jupyter / "runtime"}
    # Stop JupyterLab the clean way (it shuts its kernels down), then make sure.
    try:
        req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(req, timeout=10).close()
        server.wait(timeout=30)
    except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        log.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    leftovers = [p for p in _processes() if str(jupyter) in p]
    assert not leftovers, f"processes left running: {leftovers}"


def _processes() -> list[str]:
    out = []
    for proc in Path("/proc").iterdir():
        try:
            out.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError):
            continue
    return out


def test_default_kernel_is_the_kits_python(lab):
    specs = lab["specs"]
    assert specs["default"] == "python3"
    argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
    # "python" in a kernelspec is replaced by the server's own interpreter: the kit's venv.
    assert argv[0] == "python" or Path(argv[0]).resolve().is_relative_to(config.REPO_ROOT)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_run_all_cells_in_jupyterlab(lab, path):
    from playwright.sync_api import sync_playwright

    shots = config.build_dir() / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    # ?reset: a fresh workspace, so only this notebook is open.
    url = f"{lab['base']}/lab/tree/{path.name}?reset&token={lab['token']}"
    idle = ("document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status"
            " === 'idle'")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            _accept_kernel_dialog(page)
            page.wait_for_function(idle, timeout=90_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            _accept_kernel_dialog(page)
            page.wait_for_function(
                "[...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                ".every(e => /\\[\\d+\\]/.test(e.textContent))", timeout=600_000)
            page.wait_for_function(idle, timeout=60_000)
            images = page.locator(".jp-OutputArea-output img")
            n_images = images.count()
            if n_images:
                images.nth(n_images - 1).scroll_into_view_if_needed()
            page.screenshot(path=str(shots / f"{path.stem}.png"))
            page.keyboard.press("Control+s")
            page.wait_for_function("!document.querySelector('.jp-mod-dirty')", timeout=30_000)
            page_text = page.locator(".jp-Notebook:visible").inner_text()
        finally:
            browser.close()
    saved = nbformat.read(lab["notebooks"] / path.name, as_version=4)
    errors = [f"{o.ename}: {o.evalue}" for c in saved.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, f"cells failed in JupyterLab: {errors}"
    assert all(c.execution_count for c in saved.cells if c.cell_type == "code")
    assert n_images >= 1, "the chapter's figures did not render"
    assert "All checks passed." in page_text, "the check-your-result cell did not pass"
    assert (shots / f"{path.stem}.png").stat().st_size > 10_000


def _accept_kernel_dialog(page) -> None:
    """If JupyterLab asks which kernel to start, take the one it offers by default."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(".jp-Dialog").wait_for(timeout=3_000)
    except PlaywrightTimeout:  # no dialog: the kernel started by itself
        return
    page.get_by_role("button", name="Select", exact=True).click()
