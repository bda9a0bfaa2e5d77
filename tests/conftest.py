"""Test-wide settings and fixtures.

Hypothesis explores freely on a developer's machine, but CI (CI=true) replays a fixed set of
examples, so a CI run can never fail by chance.

Tests that need an optional extra or a browser skip cleanly without it. CI's stages for the
extras install them and set CHAINRULE_NO_SKIPS=1: there a skip means a missing install step,
so the run fails, naming each skipped test and why.
"""

import os
import re
import shutil

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

NO_SKIPS = bool(os.environ.get("CHAINRULE_NO_SKIPS"))
_skipped: list[str] = []


def _note_skip(report) -> None:
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):  # xfail: no skip
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        _skipped.append(f"{report.nodeid}: {reason}")


pytest_runtest_logreport = _note_skip
pytest_collectreport = _note_skip


def pytest_sessionfinish(session, exitstatus):
    if _skipped:
        print("\nCHAINRULE_NO_SKIPS is set, but these were skipped:\n  " + "\n  ".join(_skipped))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--window-size=1400,1350")


@pytest.fixture
def driver(tmp_path):
    """Headless Chromium (the system's, through chromedriver and selenium), with its console
    log kept (`driver.get_log("browser")`); skipped when any of them is missing."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    binary = next(filter(None, map(shutil.which, BROWSERS)), None)
    chromedriver = shutil.which("chromedriver")
    if binary is None or chromedriver is None:
        pytest.skip("needs Chromium and chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    except WebDriverException as error:
        pytest.skip(f"Chromium did not start: {error.msg}")
    try:
        yield browser
    finally:
        browser.quit()


EXTERNAL = ('src="http', "src='http", 'href="http', "href='http", "@import", "url(http",
            "<script", "<link")


def _check_notebook_output(html: str, cls: str) -> str:
    head = f'<div class="{cls}">\n<style>\n'
    assert html.startswith(head) and html.endswith("\n</div>")
    body = html[len(head):-len("\n</div>")].split("\n</style>\n", 1)[1]
    styles = re.findall(r"<style[^>]*>(.*?)</style>", html, re.DOTALL)
    rules = [rule for css in styles for rule in re.findall(r"([^{}]+)\{[^{}]*\}", css)]
    assert rules and len(styles) == html.count("<style")
    for selectors in rules:  # the fragment's own style and any inside it (an SVG's)
        for selector in selectors.split(","):
            selector = selector.strip()
            assert selector == f".{cls}" or selector.startswith(f".{cls} "), selector
    assert body.strip()
    assert not re.search(r"<(!doctype|html|head|body|main)\b", html, re.IGNORECASE)
    assert not any(marker in html for marker in EXTERNAL)
    return body


@pytest.fixture
def notebook_output():
    """check(html, cls) -> body: `html` is one notebook output (chainrule.display.fragment): a
    <div class="cls"> holding a <style> whose every selector is scoped to it, then the body;
    no page skeleton, no script, nothing fetched. Returns the body."""
    return _check_notebook_output


def _check_traced_equals_eager(make_model, make_optimizer, data, targets) -> None:
    import numpy as np

    import chainrule as cr
    from chainrule import nn
    from chainrule.trace import TracedStep

    states = []
    for traced in (False, True):
        model = make_model()
        opt = make_optimizer(model.parameters())
        step = TracedStep(model, nn.MSELoss(), opt, data[0], targets[0]) if traced else None
        for x, t in zip(data, targets, strict=True):
            if traced:
                step(x, t)
            else:
                opt.zero_grad()
                nn.MSELoss()(model(cr.tensor(x)), cr.tensor(t)).backward()
                opt.step()
        states.append(model.state_dict())
    for key in states[0]:
        np.testing.assert_array_equal(states[1][key], states[0][key])


@pytest.fixture
def traced_equals_eager():
    """check(make_model, make_optimizer, data, targets): training a fresh model on the batches
    data[k], targets[k] with an MSE loss gives bit-identical weights eagerly and by a TracedStep
    recorded on the first batch."""
    return _check_traced_equals_eager
