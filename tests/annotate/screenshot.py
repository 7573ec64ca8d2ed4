"""The README's Label Studio screenshot: one round's task, as an annotator opens it.

    .venv-labelstudio/bin/pip install playwright   # drives Debian's chromium (apt-get install chromium)
    .venv-labelstudio/bin/python tests/annotate/screenshot.py ROUND_DIR OUT.png

ROUND_DIR is a round's annotation folder (tasks.json, label_config.xml: `adaseg export-tasks`). The
script starts a Label Studio with a fresh data folder, creates an account and a project, imports
the tasks, logs in with headless Chromium (--headless --no-sandbox --disable-gpu), opens the first
task and saves the screenshot.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

EMAIL, PASSWORD = "annotator@example.com", "adaseg-screenshot"


def main(round_dir: str, out: str, chromium: str = "/usr/bin/chromium") -> None:
    round_dir = Path(round_dir)
    tasks = json.loads((round_dir / "tasks.json").read_text())
    data = Path(tempfile.mkdtemp(prefix="ls_screenshot_"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).with_name("label-studio")), "start", "--no-browser",
                               "--internal-host", "127.0.0.1", "-p", str(port), "--username", EMAIL,
                               "--password", PASSWORD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=str(data)), cwd=data)
    try:
        for _ in range(300):
            try:
                if requests.get(f"{url}/health", timeout=5).ok:
                    break
            except requests.RequestException:
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}/user/login/")
            page.fill("input[name=email]", EMAIL)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
            api = page.context.request
            headers = {"X-CSRFToken": csrf, "Referer": f"{url}/"}
            project = api.post(f"{url}/api/projects/", headers=headers, data={
                "title": "adaseg round (screenshot)", "label_config": (round_dir / "label_config.xml").read_text()}).json()
            api.post(f"{url}/api/projects/{project['id']}/import", headers=headers, data=tasks)
            version = tasks[0]["predictions"][0]["model_version"]
            api.patch(f"{url}/api/projects/{project['id']}/", headers=headers,
                      data={"model_version": version, "show_collab_predictions": True})
            task = api.get(f"{url}/api/tasks/?project={project['id']}").json()["tasks"][0]
            page.goto(f"{url}/projects/{project['id']}/data?tab=0&task={task['id']}")
            page.wait_for_load_state("networkidle")
            time.sleep(5)
            page.screenshot(path=out)
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
        subprocess.run(["rm", "-rf", str(data)])


if __name__ == "__main__":
    main(*sys.argv[1:3])
