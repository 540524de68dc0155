"""The Playground page (GET /) in headless Chromium through Selenium.

Run by tests/server/run_client_test browser playground_browser_test.py
(ctest: server_playground_browser). Uses Debian's chromium and
chromium-driver; nothing is fetched from the network. GPT_SCREENSHOT=PATH
saves a screenshot of the page after a chat turn (docs/playground.png is
made this way).
"""
import json
import os
import shutil
import time
import unittest

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from server_fixture import API_KEY, Server


def make_driver(width, height):
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--window-size={width},{height}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=opts)


class PlaygroundTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.driver = make_driver(1280, 860)
        cls.driver.get(cls.server.base + "/")
        cls.wait = WebDriverWait(cls.driver, 120)
        # The server wants a key: type it in as a user would (the page keeps
        # it in localStorage), then start afresh as a returning user; the
        # 401 of the first visit's model list is not counted.
        key = cls.driver.find_element(By.ID, "api-key")
        key.send_keys(API_KEY)
        cls.driver.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)
        cls.driver.refresh()
        cls.driver.get_log("browser")

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.server.stop()

    def set_range(self, id_, value):
        self.driver.execute_script(
            "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
            "e.dispatchEvent(new Event('input'));", id_, str(value))

    def console_errors(self):
        return [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def idle(self):
        return self.driver.find_element(By.ID, "send").is_enabled()

    def test_1_chat_streams_and_tints_tokens(self):
        d = self.driver
        self.assertEqual(d.title, "gpt Playground")
        self.wait.until(lambda _: "SmolLM2" in d.find_element(By.ID, "model").text)
        self.set_range("temperature", 0)
        self.set_range("max_tokens", 40)
        box = d.find_element(By.ID, "user-input")
        box.send_keys("What is the capital of France?")
        d.find_element(By.ID, "send").click()
        # streamed text appears, then the reply completes and is tinted
        self.wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, ".msg.assistant .body")
                        and d.find_elements(By.CSS_SELECTOR, ".msg.assistant .body")[-1].text.strip())
        self.wait.until(lambda _: self.idle())
        tokens = d.find_elements(By.CSS_SELECTOR, ".msg.assistant .tok")
        self.assertGreater(len(tokens), 1)
        reply = d.find_elements(By.CSS_SELECTOR, ".msg.assistant .body")[-1].text
        self.assertEqual("".join(t.text for t in tokens).strip(), reply.strip())
        self.assertIn("tok/s", d.find_element(By.ID, "stats").text)
        # hover: the top alternatives with their probabilities
        ActionChains(d).move_to_element(tokens[0]).perform()
        tip = d.find_element(By.ID, "tip")
        self.wait.until(lambda _: tip.is_displayed())
        rows = tip.find_elements(By.TAG_NAME, "tr")
        self.assertGreaterEqual(len(rows), 2)
        self.assertTrue(all(r.text.strip().endswith("%") for r in rows))
        shot = os.environ.get("GPT_SCREENSHOT")
        if shot:
            d.save_screenshot(shot)
        self.assertEqual(self.console_errors(), [])

    def test_2_stop_frees_the_slot(self):
        d = self.driver
        d.find_element(By.ID, "tab-complete").click()
        self.set_range("temperature", 1)
        self.set_range("max_tokens", 2000)
        cancelled = self.server.metric("gpt_requests_cancelled_total")
        d.find_element(By.ID, "send").click()
        self.wait.until(lambda _: len(d.find_element(By.ID, "output").text) > len("Once upon a time") + 20)
        self.assertEqual(self.server.metric("gpt_busy_slots"), 1)
        d.find_element(By.ID, "stop").click()
        self.wait.until(lambda _: self.idle())
        deadline = time.time() + 60
        while time.time() < deadline and self.server.metric("gpt_busy_slots") != 0:
            time.sleep(0.05)
        self.assertEqual(self.server.metric("gpt_busy_slots"), 0)
        self.assertEqual(self.server.metric("gpt_requests_cancelled_total"), cancelled + 1)
        self.assertEqual(d.find_element(By.ID, "error").text, "")
        self.assertEqual(self.console_errors(), [])

    def test_3_phone_width(self):
        d = make_driver(390, 844)
        try:
            d.get(self.server.base + "/")
            overflow = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            self.assertLessEqual(overflow, 0)
            self.assertTrue(d.find_element(By.ID, "send").is_displayed())
        finally:
            d.quit()


if __name__ == "__main__":
    unittest.main()
