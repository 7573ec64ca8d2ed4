"""A small client of Label Studio's REST API: the calls one annotation round needs.

The server and key come from the environment, never from a file in the repository:
LABEL_STUDIO_URL (e.g. http://localhost:8080) and LABEL_STUDIO_API_KEY (a personal access token
from Account & Settings, or a legacy token where the organization still allows them) - the same
names label-studio-sdk reads. A personal access token is exchanged for a short-lived access token
(POST /api/token/refresh), as the SDK does.
"""
from __future__ import annotations

import os

from ..errors import ConfigError

URL_ENV, KEY_ENV = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"


class LabelStudioError(ConfigError):
    """Label Studio cannot be reached, refuses the key, or answers a call with an error."""


def server_from_env() -> tuple[str, str] | None:
    """(url, key) from the environment, None when LABEL_STUDIO_URL is unset (offline: import files);
    LabelStudioError when the URL is set without a key."""
    url = os.environ.get(URL_ENV, "").strip()
    if not url:
        return None
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise LabelStudioError(f"{URL_ENV} is set ({url}) but {KEY_ENV} is not: export your Label Studio access token "
                               "(Account & Settings -> Personal Access Token) as LABEL_STUDIO_API_KEY")
    return url.rstrip("/"), key


class LabelStudio:
    def __init__(self, url: str, key: str, timeout: float = 60.0):
        import requests

        self.url, self.timeout = url.rstrip("/"), timeout
        self.http = requests.Session()
        if key.count(".") == 2:  # a JWT: a personal access token (a refresh token)
            r = self._send("POST", "/api/token/refresh/", json={"refresh": key}, auth=False)
            self.http.headers["Authorization"] = f"Bearer {r['access']}"
        else:
            self.http.headers["Authorization"] = f"Token {key}"

    def _send(self, method: str, path: str, auth: bool = True, **kw):
        import requests

        try:
            r = self.http.request(method, self.url + path, timeout=self.timeout, **kw)
        except requests.RequestException as e:
            raise LabelStudioError(f"Label Studio at {self.url} ({URL_ENV}) cannot be reached: "
                                   f"{type(e).__name__}; start it or fix {URL_ENV}") from None
        if r.status_code in (401, 403):
            raise LabelStudioError(f"Label Studio at {self.url} refused the key in {KEY_ENV} for {method} {path} "
                                   f"({r.status_code}: {_detail(r)}); export a valid personal access token")
        if r.status_code >= 400:
            raise LabelStudioError(f"Label Studio at {self.url}: {method} {path} failed ({r.status_code}: {_detail(r)})")
        return r.json() if r.content else None

    def find_project(self, title: str) -> dict | None:
        found = self._send("GET", "/api/projects/", params={"title": title, "page_size": 100})
        items = found.get("results", []) if isinstance(found, dict) else found
        return next((p for p in items if p.get("title") == title), None)

    def create_project(self, title: str, description: str, label_config: str) -> dict:
        return self._send("POST", "/api/projects/", json={"title": title, "description": description,
                                                          "label_config": label_config})

    def prelabel_with(self, pid: int, model_version: str) -> dict:
        """Show the predictions of `model_version` to annotators as the starting annotation."""
        return self._send("PATCH", f"/api/projects/{pid}/", json={"model_version": model_version,
                                                                  "show_collab_predictions": True})

    def project(self, pid: int) -> dict:
        return self._send("GET", f"/api/projects/{pid}/")

    def import_tasks(self, pid: int, tasks: list[dict]) -> dict:
        return self._send("POST", f"/api/projects/{pid}/import", json=tasks)

    def export(self, pid: int) -> list[dict]:
        """Every task of the project with its annotations (Label Studio's JSON export)."""
        return self._send("GET", f"/api/projects/{pid}/export", params={"exportType": "JSON", "download_all_tasks": "true"})

    def tasks(self, pid: int) -> list[dict]:
        out, page = [], 1
        while True:
            got = self._send("GET", "/api/tasks/", params={"project": pid, "page": page, "page_size": 100})
            items = got.get("tasks", []) if isinstance(got, dict) else got
            out += items
            if len(items) < 100:
                return out
            page += 1

    def annotate(self, task_id: int, result: list[dict]) -> dict:
        """Submit an annotation of a task (what an annotator's Submit does)."""
        return self._send("POST", f"/api/tasks/{task_id}/annotations/", json={"result": result, "was_cancelled": False})

    def project_link(self, pid: int) -> str:
        return f"{self.url}/projects/{pid}/data"


def _detail(r) -> str:
    try:
        body = r.json()
        text = body.get("detail") or body.get("validation_errors") or body
    except ValueError:
        text = r.text[:200]
    return " ".join(str(text).split())[:300]
