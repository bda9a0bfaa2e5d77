"""The page in a real browser (headless Chromium) against a real server: train, click, read.

Skipped when selenium, Chromium or its driver is missing (the `driver` fixture is in
tests/conftest.py). Screenshots go to pytest's tmp_path.
"""

import os
import time

import pytest

pytest.importorskip("selenium.webdriver")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def wait(driver, condition, what, seconds=10):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.05).until(lambda d: condition())
    except TimeoutException:
        error = driver.find_element(By.ID, "error").text
        pytest.fail(f"waited {seconds} s for {what}; the page's error: {error!r}")


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def ready(driver, dataset):
    """Choose `dataset` and wait for its network and first frame."""
    Select(driver.find_element(By.ID, "dataset")).select_by_value(dataset)
    caption = "2–2–2" if dataset == "worked-example" else "2–6–6–2"
    wait(driver, lambda: text(driver, "network-caption").startswith(caption)
         and text(driver, "epoch") == "0", f"the {dataset} network")


def severe(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_train_spirals_and_read_a_weights_derivation(driver, live_server, tmp_path):
    url, _ = live_server
    driver.get(url)
    wait(driver, lambda: text(driver, "loss-value") != "–", "the first frame")
    ready(driver, "spirals")
    first = float(text(driver, "loss-value"))
    Select(driver.find_element(By.ID, "speed")).select_by_value("")  # as fast as it can
    driver.find_element(By.ID, "play").click()
    wait(driver, lambda: float(text(driver, "loss-value")) < 0.7 * first,
         f"the loss to fall below 70% of {first}", seconds=15)
    assert int(text(driver, "epoch")) > 0 and text(driver, "val-loss-value") != "–"
    driver.find_element(By.CSS_SELECTOR, '.edge[data-param="w1"]').click()
    wait(driver, lambda: "∂E/∂w1 = ∂E/∂out_h1_1" in text(driver, "explanation"),
         "the derivation of w1")
    summary = text(driver, "explain-summary")
    assert summary.startswith("∂E/∂w1 = ") and "w1⁺ = w1 − η·∂E/∂w1" in summary
    assert "this is the derivative for the one sample chosen" in text(driver, "explain-notes")
    driver.find_element(By.ID, "pause").click()
    driver.save_screenshot(str(tmp_path / "spirals.png"))
    if os.environ.get("PLAYGROUND_SCREENSHOT"):  # how docs/playground.png is made
        driver.save_screenshot(os.environ["PLAYGROUND_SCREENSHOT"])
    assert severe(driver) == []


def test_one_step_of_the_worked_example_on_the_page(driver, live_server, tmp_path):
    url, _ = live_server
    driver.get(url)
    wait(driver, lambda: text(driver, "loss-value") != "–", "the first frame")
    ready(driver, "worked-example")
    assert text(driver, "loss-value") == "0.298371109"
    driver.find_element(By.ID, "step").click()
    wait(driver, lambda: text(driver, "epoch") == "1", "one step")
    assert text(driver, "loss-change") == "0.298371109 → 0.291027774"
    assert text(driver, "loss-value") == "0.291027774"
    driver.find_element(By.ID, "reset").click()
    wait(driver, lambda: text(driver, "epoch") == "0", "the reset")
    driver.find_element(By.CSS_SELECTOR, '.edge[data-param="w5"]').click()
    wait(driver, lambda: "0.0821670406" in text(driver, "explanation"), "∂E/∂w5")
    assert "w5⁺ = 0.4 − 0.5 × 0.0821670406 = 0.35891648" in text(driver, "explanation")
    Select(driver.find_element(By.ID, "notation")).select_by_value("layer")
    wait(driver, lambda: "∂C₀/∂w⁽²⁾₁₁ = ∂z⁽²⁾₁/∂w⁽²⁾₁₁ · ∂a⁽²⁾₁/∂z⁽²⁾₁ · ∂C₀/∂a⁽²⁾₁"
         in text(driver, "explanation"), "∂C₀/∂w⁽²⁾₁₁ in the layer notation")
    assert text(driver, "explain-caption") == "∂C₀/∂w⁽²⁾₁₁ for training sample 0"
    assert "w⁽²⁾₁₁⁺ = w⁽²⁾₁₁ − η·∂C₀/∂w⁽²⁾₁₁ = 0.4 − 0.5 × 0.0821670406" in \
        text(driver, "explain-summary")
    marked = [m.text for m in driver.find_elements(By.CSS_SELECTOR, "#explanation mark")]
    assert any(m.strip().startswith("∂C₀/∂w⁽²⁾₁₁ = ") for m in marked)
    assert any(m.strip().startswith("w⁽²⁾₁₁⁺ = 0.4") for m in marked)
    driver.save_screenshot(str(tmp_path / "worked-example.png"))
    assert severe(driver) == []


def test_bad_input_is_shown_on_the_page(driver, live_server):
    url, _ = live_server
    driver.get(url)
    wait(driver, lambda: text(driver, "loss-value") != "–", "the first frame")
    field = driver.find_element(By.ID, "hidden")
    field.clear()
    field.send_keys("0\n")
    driver.find_element(By.ID, "lr").click()  # a change event
    wait(driver, lambda: "each hidden layer needs 1 to 8 units" in text(driver, "error"),
         "the message about a width of 0")
    time.sleep(0.1)
    driver.find_element(By.ID, "step").click()  # the previous network still works
    wait(driver, lambda: text(driver, "epoch") == "1", "a step after the mistake")
