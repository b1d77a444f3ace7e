"""Headless Chromium for the browser checks (html_check.py, console_check.py): Debian's
chromium and chromium-driver (GENIMS_CHROMIUM and GENIMS_CHROMEDRIVER override their
paths), driven by Selenium, with the browser's console log kept for the checks."""

import os

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def browser(width: int, height: int) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("GENIMS_CHROMIUM", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(os.environ.get("GENIMS_CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)
