"""Drives the live console of a running `genims stream` in headless Chromium (Debian's
chromium and chromium-driver, through Selenium) and reports what a person sees, for the
caller to check against PostgreSQL.

usage:
  console_check.py plant URL MACHINE TOKEN OUT.json
  console_check.py shots URL MACHINE SCREENSHOT_DIR
  console_check.py outage URL SINK

`plant` writes OUT.json with
  - "tree": [[factory, line, [machine, ...]], ...] as the page groups the tiles;
  - "at" and "states": the minute whose SCADA rows the tiles show and each tile's state, and
    "colours_ok": whether each tile has its state's legend colour;
  - "series": per sensor of MACHINE (opened by clicking its tile), the time and value of its
    trace's last point;
  - "refused": the status the injection form got without the token (expected 401),
    "episode": the id it got with TOKEN, "in_timeline": whether that episode then appears
    in the page's timeline and episode table, "listed" its entry in GET /faults, "cleared": the status its clear button got once
    it tripped;
  - "errors": the browser console's errors, except the 401 the first attempt was meant to get.
`outage` waits until the page shows SINK failing while its clock still advances.
`shots` saves console-plant.png and console-machine.png (MACHINE's page) in SCREENSHOT_DIR.
Exits 1 with one line per failed step.
"""

import json
import os
import sys
import time
import urllib.request

import chromium
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def browser() -> webdriver.Chrome:
    return chromium.browser(1400, 1000)


def wait(driver, what, seconds=30):
    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(lambda d: what(d))


def clicked(driver, css):
    """Clicks the element `css` names, if it is there; False if it is not, or if the page
    redrew it between finding and clicking (the console redraws on every poll)."""
    try:
        driver.find_element(By.CSS_SELECTOR, css).click()
        return True
    except (NoSuchElementException, StaleElementReferenceException):
        return False


TREE = """
return [...document.querySelectorAll('.factory')].flatMap(f =>
  [...f.querySelectorAll('.line')].map(l => [f.dataset.factory, l.dataset.line,
    [...l.querySelectorAll('.tile')].map(t => t.dataset.machine)]));
"""

STATES = """
const legend = {};
for (const s of ['running','idle','setup','fault','maintenance','unknown']) {
  legend[s] = getComputedStyle(document.querySelector('.legend .state-' + s)).backgroundColor;
}
const tiles = [...document.querySelectorAll('.tile')];
return {
  at: document.getElementById('tree').dataset.statesAt,
  states: Object.fromEntries(tiles.map(t => [t.dataset.machine, t.dataset.state])),
  colours_ok: tiles.every(t => getComputedStyle(t).backgroundColor === legend[t.dataset.state]),
};
"""

SERIES = """
return [...document.querySelectorAll('figure.sensor')].map(f =>
  ({sensor: f.dataset.sensor, t: f.dataset.lastT || null, v: f.dataset.lastV || null, points: +f.dataset.points}));
"""


def errors(driver, allowed_401: bool):
    out = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if allowed_401 and "/faults" in entry["message"] and "401" in entry["message"]:
            allowed_401 = False
            continue
        out.append(entry["message"])
    return out


def submit(driver):
    driver.find_element(By.ID, "inject-submit").click()
    wait(driver, lambda d: d.find_element(By.ID, "inject-result").get_attribute("data-status"))
    result = driver.find_element(By.ID, "inject-result")
    status = int(result.get_attribute("data-status"))
    driver.execute_script("delete document.getElementById('inject-result').dataset.status")
    return status, result.get_attribute("data-episode"), result.text


def plant(url, machine, token, out):
    driver = browser()
    report = {}
    try:
        driver.get(url)
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".tile:not(.state-unknown)"))
        report["tree"] = driver.execute_script(TREE)
        report.update(driver.execute_script(STATES))
        wait(driver, lambda d: clicked(d, f'.tile[data-machine="{machine}"]'))
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "figure.sensor[data-last-t]")) > 0)
        report["series"] = driver.execute_script(SERIES)
        wait(driver, lambda d: len(Select(d.find_element(By.ID, "inject-pattern")).options) > 0)
        Select(driver.find_element(By.ID, "inject-pattern")).select_by_value("coolant_failure")
        driver.find_element(By.ID, "inject-duration").send_keys("15m")
        status, _, text = submit(driver)
        report["refused"] = status
        report["refused_text"] = text
        driver.find_element(By.ID, "token").send_keys(token)
        status, episode, text = submit(driver)
        report["accepted"] = status
        report["accepted_text"] = text
        report["episode"] = int(episode) if episode else None
        if episode:
            sel = f'#episodes tr[data-episode="{episode}"]'
            try:
                wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, sel)
                     and d.find_elements(By.CSS_SELECTOR, f'svg.timeline g[data-episode="{episode}"]'))
                report["in_timeline"] = True
            except Exception:
                report["in_timeline"] = False
            with urllib.request.urlopen(url.rstrip("/") + "/faults") as r:
                listed = [e for e in json.load(r)["episodes"] if str(e["id"]) == episode]
            report["listed"] = listed[0] if listed else None
            # Once it trips, its clear button ends it: the repair ends at once.
            wait(driver, lambda d: clicked(d, sel + '[data-phase="fault"] button[data-clear]'), 90)
            wait(driver, lambda d: d.find_element(By.ID, "inject-result").get_attribute("data-status"))
            report["cleared"] = int(driver.find_element(By.ID, "inject-result").get_attribute("data-status"))
            report["cleared_text"] = driver.find_element(By.ID, "inject-result").text
        report["errors"] = errors(driver, allowed_401=True)
    finally:
        driver.quit()
    with open(out, "w") as f:
        json.dump(report, f, indent=1)


def shots(url, machine, where):
    """console-plant.png (the top of the page) and console-machine.png (MACHINE's panel)."""
    driver = browser()
    try:
        driver.get(url + "#" + machine)
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".tile:not(.state-unknown)"))
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "figure.sensor[data-last-t]"))
        time.sleep(2.5)  # a second series poll: every chart drawn
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(os.path.join(where, "console-plant.png"))
        panel = driver.find_element(By.ID, "machine")
        driver.execute_script("arguments[0].scrollIntoView()", panel)
        panel.screenshot(os.path.join(where, "console-machine.png"))
    finally:
        driver.quit()


def outage(url, sink):
    driver = browser()
    try:
        driver.get(url)
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".tile"))
        first = driver.find_element(By.ID, "clock").text
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f'.sink.failing[data-sink="{sink}"]'), 60)
        banner = driver.find_element(By.ID, "banner")
        if banner.get_attribute("hidden") is not None or sink not in banner.text:
            sys.exit(f"the banner does not name the failing sink {sink}: {banner.text!r}")
        wait(driver, lambda d: d.find_element(By.ID, "clock").text != first, 30)
        left = [e for e in errors(driver, allowed_401=False)]
        if left:
            sys.exit("browser console errors: " + "; ".join(left))
    finally:
        driver.quit()


if __name__ == "__main__":
    if sys.argv[1] == "plant":
        plant(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif sys.argv[1] == "shots":
        shots(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "outage":
        outage(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
