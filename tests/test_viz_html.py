"""The interactive page (``render(..., path="x.html")``), opened in a real browser: headless Chromium
driven by Selenium. CI installs Chromium (.ci/run); elsewhere the browser test skips when it is absent."""
import io
import json
import os
import re
import shutil

import numpy as np
import pytest

import minigrad
import nn
from minigrad import viz

pytestmark = pytest.mark.cpu_only  # subprocesses / host-side files: the device run adds nothing


def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path, shutil.which("chromedriver")
    return None, None


def _page(tmp_path, **options):
    minigrad.manual_seed(0)
    model = nn.models.resnet18(num_classes=10, small_input=True)
    logits = model(minigrad.randn(1, 3, 16, 16))
    path = viz.render(logits, path=tmp_path / "resnet18.html", group_modules=True, title="ResNet18 page", **options)
    return path, model


needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed (apt-get install graphviz)")


@needs_dot
def test_page_is_self_contained_and_holds_one_view_per_branch(tmp_path):
    path, _ = _page(tmp_path)
    text = open(path, encoding="utf-8").read()
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing loaded from the network
    assert "<svg" not in text.split('<script id="data"')[0]  # the drawings are data, shown by the script
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
                      .group(1).replace("<\\/", "</"))
    mods = {m["name"]: m for m in data["modules"]}
    assert data["opening"] == str(mods["ResNet"]["id"])  # opens at stage level: only the model is open
    opening = data["views"][data["opening"]]
    assert 'id="node_%d"' % mods["layer2"]["id"] in opening and "layer2.0: BasicBlock" not in opening
    branch = data["views"][mods["layer2"]["chain"]]
    assert 'id="cluster_%d"' % mods["layer2"]["id"] in branch  # layer2 open: a frame holding its blocks
    assert 'id="node_%d"' % mods["layer2.0"]["id"] in branch and 'id="node_%d"' % mods["layer2.1"]["id"] in branch
    assert 'id="node_%d"' % mods["layer3.0"]["id"] not in branch and "layer3.0" not in branch
    block = data["views"][mods["layer2.0"]["chain"]]  # a block open: its layers and ops
    assert "layer2.0.conv1: Conv2d" in block and ">downsample</text>" in block  # the labelled skip edge
    assert "Conv2d: y[n,co,p,q]" in data["views"][data["all"]]  # formulas in the tooltips
    assert len(data["views"]) == 1 + 1 + 1 + 4 + 8 + 3  # nothing open, all open, the model, stages, blocks, downsamples
    with pytest.raises(ValueError, match="group_modules=True"):
        viz.render(minigrad.randn(2, requires_grad=True) * 2, path=tmp_path / "flat.html", group_modules=False)


@needs_dot
def test_page_in_headless_chromium_opens_a_stage_on_click(tmp_path):
    browser, driver_path = _browser()
    if browser is None or driver_path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: .ci/run installs chromium and chromium-driver")
        pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver)")
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    path, _ = _page(tmp_path)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get("file://" + os.path.abspath(path))
        data = json.loads(driver.find_element(By.ID, "data").get_attribute("textContent"))
        ids = {m["name"]: m["id"] for m in data["modules"]}

        def clusters():
            return {c.get_attribute("id") for c in driver.find_elements(By.CSS_SELECTOR, "g.cluster")}

        def boxes():
            return {c.get_attribute("id") for c in driver.find_elements(By.CSS_SELECTOR, "g.node")}

        def texts():
            return [t.text for t in driver.find_elements(By.CSS_SELECTOR, "svg text") if t.text]

        assert driver.execute_script("return window.minigradGraph.state()") == data["opening"]
        assert "layer2" in texts() and f"node_{ids['layer2.0']}" not in boxes()
        driver.find_element(By.ID, f"node_{ids['layer2']}").click()  # a real click on the stage's box
        assert f"cluster_{ids['layer2']}" in clusters()
        assert {f"node_{ids['layer2.0']}", f"node_{ids['layer2.1']}"} <= boxes()  # its blocks appear
        shown = texts()
        assert "layer2: Sequential" in shown and "layer2.0" in shown and "layer2.1" in shown
        assert "conv3x3/2 -> conv3x3" in shown and "layer3.0" not in shown
        driver.find_element(By.ID, f"node_{ids['layer2.0']}").click()  # and a block opens into its ops
        assert "open: ResNet, layer2" in driver.find_element(By.ID, "where").text
        png = driver.get_screenshot_as_png()
        # hovering an op shows its formulas
        conv = driver.execute_script("""
            var inside = function (r) { return r.top > 40 && r.bottom < innerHeight && r.left > 0 && r.right < innerWidth; };
            return Array.prototype.find.call(document.querySelectorAll("g.node a"), function (a) {
              var t = a.querySelector("text");
              return t && t.textContent === "Conv2d" && inside(a.getBoundingClientRect());
            });""")
        webdriver.ActionChains(driver).move_to_element(conv).perform()
        tip = driver.find_element(By.ID, "tip")
        assert tip.is_displayed() and tip.text.startswith("Conv2d: y[n,co,p,q] =") and "backward: dW" in tip.text
        # clicking the open stage's frame closes it again
        driver.execute_script("window.minigradGraph.close(arguments[0])", ids["layer2"])
        assert f"cluster_{ids['layer2.0']}" not in clusters() and f"node_{ids['layer2']}" in boxes()
    finally:
        driver.quit()
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    assert image.shape[0] > 500 and image.shape[1] > 800
    drawing = image[60:]  # below the tool bar
    assert drawing.std() > 10 and (drawing < 128).mean() > 0.003  # not blank: boxes, lines and text drawn
