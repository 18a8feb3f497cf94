"""End to end in a real browser: a 2-trial study, the dashboard, headless Chromium driven by Selenium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.search.dashboard_helpers import ROOT, running_dashboard, study_command

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT_DIR = ROOT / "tests" / "artifacts"  # git-ignored; CI keeps it as a test artifact
# Without the background-networking flags Chromium keeps calling home on a closed network.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000",
)  # fmt: skip


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="fmnist-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.slow
def test_a_user_sees_trials_notes_and_learning_curves(real_data_dir: Path, tmp_path: Path, browser) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    subprocess.run(study_command(url, real_data_dir, trials=2), cwd=ROOT, check=True, capture_output=True)
    wait = WebDriverWait(browser, 30)
    with running_dashboard(url) as base:
        browser.get(f"{base}/dashboard")
        wait.until(
            EC.element_to_be_clickable((By.XPATH, "//a[contains(@href, '/dashboard/studies/')][contains(., 'dense')]"))
        ).click()
        wait.until(EC.url_contains("/dashboard/studies/"))
        browser.get(browser.current_url.rstrip("/") + "/trials")  # the trial list, as its side-bar icon opens it
        for number in (0, 1):
            wait.until(EC.presence_of_element_located((By.XPATH, f"//*[normalize-space(text())='Trial {number}']")))
        browser.find_element(By.XPATH, "//*[normalize-space(text())='Trial 1']").click()
        wait.until(
            EC.presence_of_element_located((By.XPATH, "//h2[normalize-space(.)='Trial 1']"))
        )  # the note's heading
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "parameters" in body and "epochs run" in body and "train time" in body
        # The learning curve is inside the note (a Markdown image), not only a thumbnail among the artifacts.
        image = wait.until(
            EC.presence_of_element_located(
                (By.XPATH, "//img[contains(@alt, 'learning curve')][contains(@src, '/artifacts/')]")
            )
        )
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", image)
        wait.until(
            lambda _: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image)
        )
        assert browser.execute_script("return arguments[0].naturalWidth", image) >= 600  # full size: 8 in at 80 dpi
        assert "learning_curve.png" in browser.find_element(By.TAG_NAME, "body").text
        # The objective is named, on the trial page and in the study's charts.
        assert "val_accuracy" in browser.find_element(By.TAG_NAME, "body").text
        # On disk, each file keeps its name and extension.
        stored = sorted(path.name for path in (tmp_path / "artifacts").glob("*/*"))
        assert stored == ["learning_curve.png", "learning_curve.png"], stored
        SCREENSHOT_DIR.mkdir(exist_ok=True)
        shot = SCREENSHOT_DIR / "dashboard-trial.png"
        assert browser.save_screenshot(str(shot))
        print(f"screenshot: {shot}")


@pytest.mark.slow
def test_the_evaluation_of_an_export_shows_on_its_trial(tiny_data_dir, tmp_path: Path, browser) -> None:
    from typer.testing import CliRunner

    from search.cli.app import app

    data = tiny_data_dir()
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    common = ["--data-dir", str(data), "--storage", url]
    for args in (
        ["start", "--space", "dense", "--trials", "1", "--epochs", "1", *common],
        ["export", "--space", "dense", "--repeats", "1", "--out", str(tmp_path), *common],
        ["evaluate", str(tmp_path / "exports" / "dense-0"), *common],
    ):
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    wait = WebDriverWait(browser, 30)
    with running_dashboard(url) as base:
        browser.get(f"{base}/dashboard")
        wait.until(
            EC.element_to_be_clickable((By.XPATH, "//a[contains(@href, '/dashboard/studies/')][contains(., 'dense')]"))
        ).click()
        wait.until(EC.url_contains("/dashboard/studies/"))
        browser.get(browser.current_url.rstrip("/") + "/trials")
        wait.until(EC.element_to_be_clickable((By.XPATH, "//*[normalize-space(text())='Trial 0']"))).click()
        wait.until(EC.presence_of_element_located((By.XPATH, "//h2[contains(., 'Final evaluation')]")))
        # The confusion matrix is a study file, shown inside the trial's note.
        image = wait.until(EC.presence_of_element_located((By.XPATH, "//img[contains(@alt, 'confusion matrix')]")))
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", image)
        wait.until(
            lambda _: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image)
        )
        assert "test accuracy" in browser.find_element(By.TAG_NAME, "body").text
        SCREENSHOT_DIR.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT_DIR / "dashboard-evaluation.png"))
        heading = "//h2[contains(., 'Final evaluation')]"
        # The note's lines wrap inside its card: nothing in it is wider than the card.
        assert browser.execute_script(OVERFLOW_SCRIPT, heading, False) == []
        # The card fits the window: nothing beside it in the trial's pane (its user attributes,
        # one unwrapped line each) is wider than the window.
        assert browser.execute_script(OVERFLOW_SCRIPT, heading, True) == []


# Elements of a note (the Markdown around the heading at arguments[0]) whose right edge passes the
# note's own card or (arguments[1] true) the window: what a reader would find cut off.
OVERFLOW_SCRIPT = """
const first = XPathResult.FIRST_ORDERED_NODE_TYPE;
const heading = document.evaluate(arguments[0], document, null, first, null).singleNodeValue;
const note = heading.parentElement;
const right = arguments[1] ? window.innerWidth : note.getBoundingClientRect().right;
return Array.from(note.querySelectorAll("*"))
  .filter((e) => e.getBoundingClientRect().right > right + 1)
  .map((e) => `${e.tagName} to ${Math.round(e.getBoundingClientRect().right)} px: ${e.textContent.slice(0, 60)}`);
"""
