"""A run's report.html in a real browser (headless Chromium): it renders offline, every figure
has a size, and the console stays clean. Skipped without selenium or the browser; CI's
playground stage has both (the `driver` fixture is in tests/conftest.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By

from chainrule.runs import TrainConfig, train


def test_a_runs_report_renders_with_no_console_errors(driver, tmp_path):
    out = tmp_path / "moons"
    train(TrainConfig(dataset="moons", hidden=[8, 8], epochs=8, lr=0.03), out)
    driver.get((out / "report.html").as_uri())
    assert driver.title.startswith("chainrule")
    headings = [h.text for h in driver.find_elements(By.TAG_NAME, "h2")]
    for expected in ("Configuration", "Confusion"):
        assert any(h.startswith(expected) for h in headings), headings
    figures = driver.find_elements(By.CSS_SELECTOR, "svg")
    assert len(figures) >= 3                        # curves, gradient norms, boundaries
    for svg in figures:
        assert svg.size["width"] > 100 and svg.size["height"] > 100, svg.size
    cells = driver.find_elements(By.CSS_SELECTOR, "table.confusion td")
    assert sum(int(c.text.replace(",", "")) for c in cells if c.text.strip()) == 80  # 20 %
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    driver.save_screenshot(str(tmp_path / "report.png"))
