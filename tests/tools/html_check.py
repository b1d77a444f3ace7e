"""Opens a `genims evaluate --html` report in headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) and checks what a reader sees against the JSON report
of the same run.

usage: html_check.py REPORT.html REPORT.json EPISODES [SCREENSHOT_DIR]

- The page loads with no error in the browser's console.
- One trace figure per labelled episode (EPISODES, counted by the caller from fault_labels)
  and one bar chart per pattern of the JSON report.
- Every number tagged `data-metric="<pattern>.<detector>.<field>"` (or a top-level field)
  is the JSON report's value as printed (three decimals, or a whole number).
- Each trace has drawn readings (a polyline) and each chart its bars.
- With SCREENSHOT_DIR, saves evaluate-report.png (the top of the page) and
  evaluate-episode.png (the first scored episode's figure).
Exits 1 with one line per failed check.
"""

import json
import os
import sys

import chromium
from selenium import webdriver
from selenium.webdriver.common.by import By


def browser() -> webdriver.Chrome:
    return chromium.browser(1000, 1300)


def expected(report: dict, metric: str, episodes: int):
    """The JSON report's value for a data-metric path."""
    top = {
        "evaluation_times": report["evaluation_times"],
        "machines": report["machines"],
        "healthy_flagged_max": report["healthy_flagged_max"],
        "healthy_flagged_mean": report["healthy_flagged_mean"],
        "healthy_flagged_count": len(report["healthy_flagged"]),
        "episodes_drawn": episodes,
    }
    if metric in top:
        return top[metric]
    parts = metric.split(".")
    pattern = next(p for p in report["patterns"] if p["pattern"] == parts[0])
    if len(parts) == 2:
        return pattern[parts[1]]
    detector = pattern if parts[1] == "reference" else pattern[parts[1]]
    return detector[parts[2]]


def printed(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or isinstance(value, int):
        return str(int(value))
    return f"{value:.3f}"


def main() -> int:
    html, json_path, episodes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    shots = sys.argv[4] if len(sys.argv) > 4 else None
    report = json.load(open(json_path))
    failures = []
    driver = browser()
    try:
        driver.get("file://" + os.path.abspath(html))
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        if errors:
            failures.append(f"the browser's console has errors: {errors}")
        figures = driver.find_elements(By.CSS_SELECTOR, "figure[id^='episode-'] svg.trace")
        if len(figures) != episodes:
            failures.append(f"{len(figures)} episode figures, want {episodes} (one per labelled episode)")
        empty = [f.get_attribute("data-id") for f in figures if not f.find_elements(By.TAG_NAME, "polyline")]
        if empty:
            failures.append(f"episode figures without readings: {empty[:5]}")
        bars = driver.find_elements(By.CSS_SELECTOR, "svg.bars")
        if len(bars) != len(report["patterns"]):
            failures.append(f"{len(bars)} bar charts, want one per pattern ({len(report['patterns'])})")
        if not any(b.find_elements(By.TAG_NAME, "rect") for b in bars):
            failures.append("no bar chart has a bar")
        checked = 0
        for el in driver.find_elements(By.CSS_SELECTOR, "[data-metric]"):
            metric = el.get_attribute("data-metric")
            want = printed(expected(report, metric, episodes))
            if el.text.strip() != want:
                failures.append(f"{metric}: the page says {el.text.strip()!r}, the JSON report {want!r}")
            checked += 1
        if checked < 10 * len(report["patterns"]):
            failures.append(f"only {checked} numbers tagged on the page")
        if shots:
            os.makedirs(shots, exist_ok=True)
            driver.save_screenshot(os.path.join(shots, "evaluate-report.png"))
            first = driver.find_elements(By.CSS_SELECTOR, "figure[id^='episode-'][data-scored='true']")
            if first:
                driver.execute_script("arguments[0].scrollIntoView()", first[0])
                first[0].screenshot(os.path.join(shots, "evaluate-episode.png"))
        print(f"html_check: {len(figures)} episode figures, {len(bars)} bar charts, {checked} numbers", file=sys.stderr)
    finally:
        driver.quit()
    for f in failures:
        print(f"html_check: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
