"""End to end in real headless Chromium: upload a real clip through the page and see the result rendered.

The screenshot is kept as a test artifact: ``artifacts/web-classify.png`` (and in pytest's tmp dir).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"


def _chromium() -> tuple[str, str] | None:
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def driver():
    found = _chromium()
    if found is None:
        pytest.skip("chromium and chromium-driver are not installed (make install-system)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="genrelab-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1100,1400",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        drv = webdriver.Chrome(service=Service(found[1]), options=opts)
    except Exception as exc:  # pragma: no cover - broken browser install
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"chromium did not start: {exc}")
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_upload_real_clip_and_see_result(driver, live_server, browser_app, gtzan_root, upload_dir, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    clip = sorted((gtzan_root / "genres_original" / "blues").glob("*.wav"))[0]
    driver.get(live_server + "/")
    wait = WebDriverWait(driver, 60)
    wait.until(EC.presence_of_element_located((By.ID, "file")))
    wait.until(lambda d: "Model:" in d.find_element(By.ID, "model-info").text)
    assert "listed above" not in driver.find_element(By.TAG_NAME, "footer").text
    assert not driver.find_element(By.ID, "known").is_displayed()  # nothing speaks of genres before any are shown
    driver.find_element(By.ID, "file").send_keys(str(clip))
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error"))
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done", \
        driver.find_element(By.ID, "status").text

    n_labels = len(browser_app.state.classifier().labels)
    bars = driver.find_elements(By.CSS_SELECTOR, "#bars .bar")
    assert len(bars) == n_labels  # one bar per genre the model knows
    widths = [float(b.find_element(By.CSS_SELECTOR, ".fill").get_attribute("style").split("width:")[1].split("%")[0])
              for b in bars]
    assert widths == sorted(widths, reverse=True) and abs(sum(widths) - 100) < 1
    answer = driver.find_element(By.ID, "answer").text
    assert bars[0].get_attribute("data-genre") in answer and clip.name in answer

    segs = driver.find_elements(By.CSS_SELECTOR, "#timeline-strip .tl-seg")
    assert len(segs) == 10  # 30 s clip, one timeline entry per 3-s window
    assert all(s.size["width"] > 0 for s in segs)
    assert driver.find_element(By.ID, "timeline").is_displayed()

    img = driver.find_element(By.ID, "spec-img")
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100
    assert img.is_displayed()

    known = driver.find_element(By.ID, "known")
    assert known.is_displayed() and f"only these {n_labels} genres" in known.text
    assert abs(driver.execute_script("return arguments[0].naturalWidth", img) - 1000) < 5  # matplotlib figure

    # playback: the chosen file plays from memory and the cursor follows it along the timeline
    player = driver.find_element(By.ID, "player")
    assert player.get_attribute("src").startswith("blob:")
    cursor = driver.find_element(By.ID, "timeline-cursor")
    driver.execute_script("arguments[0].currentTime = 0; return arguments[0].play()", player)
    wait.until(lambda d: d.execute_script("return arguments[0].currentTime", player) > 1.0)
    first = float(cursor.get_attribute("data-seconds"))
    left1 = cursor.location["x"]
    wait.until(lambda d: d.execute_script("return arguments[0].currentTime", player) > first + 1.0)
    time.sleep(0.2)
    assert cursor.location["x"] > left1 and float(cursor.get_attribute("data-seconds")) > first  # it moves
    assert driver.find_element(By.ID, "spec-cursor").is_displayed()
    assert "now:" in driver.find_element(By.ID, "now").text
    driver.execute_script("arguments[0].pause()", player)

    # the timeline: a click seeks there, the cursor jumps to the click
    strip = driver.find_element(By.ID, "timeline-wrap")
    ActionChains(driver).move_to_element_with_offset(strip, int(strip.size["width"] * 0.25), 0).click().perform()
    wait.until(lambda d: abs(d.execute_script("return arguments[0].currentTime", player) - 0.75 * 30) < 2.5)
    driver.execute_script("arguments[0].pause()", player)
    x_frac = (cursor.location["x"] - strip.location["x"]) / strip.size["width"]
    assert abs(x_frac - 0.75) < 0.1
    axis = [s.text for s in driver.find_elements(By.CSS_SELECTOR, "#timeline-axis span")]
    assert axis[0] == "0:00" and axis[-1] == "0:30"
    assert not [e for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]

    shot = tmp_path / "web-classify.png"
    driver.save_screenshot(str(shot))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "web-classify.png")
    assert shot.stat().st_size > 10_000
    assert list(upload_dir.iterdir()) == []


def test_renamed_text_file_shows_an_error(driver, live_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    fake = tmp_path / "not-a-song.mp3"
    fake.write_text("just some text\n" * 30)
    driver.get(live_server + "/")
    driver.find_element(By.ID, "file").send_keys(str(fake))
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "error")
    status = driver.find_element(By.ID, "status").text
    assert "not-a-song.mp3" in status and "not a readable audio file" in status
    assert status.count("not-a-song.mp3") == 1 and status.count("not-audio") == 1, status  # said once
    assert len([e for e in driver.find_elements(By.CSS_SELECTOR, ".error") if e.is_displayed()]) == 1
