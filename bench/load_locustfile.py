"""The users of bench/load.py's declaration day, for Locust. Sessions come from LOAD_SESSIONS (opened by
bench/load.py); LOAD_YEAR_END_AFTER seconds in, one Support user starts the national year end.

The production cookies are Secure and the TLS proxy is stood in for by X-Forwarded-Proto over loopback, so
the cookies are sent by hand (a client would not send Secure cookies over plain HTTP).
"""

import itertools
import json
import os
import re
import threading
import time

from locust import HttpUser, between, task

SESSIONS = json.loads(open(os.environ["LOAD_SESSIONS"]).read())  # noqa: SIM115
YEAR_END_AFTER = float(os.environ.get("LOAD_YEAR_END_AFTER", "60"))
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_next = {kind: itertools.count() for kind in ("practice", "commissioner", "support")}
_lock = threading.Lock()
_started = time.monotonic()
_year_end_started = threading.Event()


def _take(kind: str) -> dict:
    with _lock:
        pool = SESSIONS[kind]
        return pool[next(_next[kind]) % len(pool)]


class Portal(HttpUser):
    abstract = True
    kind = ""

    def on_start(self):
        self.me = _take(self.kind)
        self.cookies = {"sessionid": self.me["session"]}

    def _headers(self, **extra) -> dict:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        return {"X-Forwarded-Proto": "https", "Host": "127.0.0.1", "Cookie": cookie, **extra}

    def _keep_cookies(self, response) -> None:
        for name in ("csrftoken", "sessionid"):
            if name in response.cookies:
                self.cookies[name] = response.cookies[name]

    def get(self, path: str, name: str):
        with self.client.get(path, headers=self._headers(), name=name, catch_response=True) as response:
            self._keep_cookies(response)
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
            return response

    def post(self, path: str, form_page, data: dict, name: str):
        """POST as a browser would after `form_page`: its CSRF token, its origin as the referrer. A redirect
        (303/302) or the page shown again with a message (200) are both answers; anything else is an error."""
        match = TOKEN.search(form_page.text or "")
        if not match:
            return None
        headers = self._headers(Referer=f"https://127.0.0.1{path}")
        body = {"csrfmiddlewaretoken": match.group(1), **data}
        with self.client.post(
            path, data=body, headers=headers, name=name, allow_redirects=False, catch_response=True
        ) as response:
            self._keep_cookies(response)
            if response.status_code not in (200, 302, 303):
                response.failure(f"{response.status_code}")
            return response


class PracticeUser(Portal):
    """Declaration Management at a practice: reads its achievement, then declares it."""

    kind = "practice"
    weight = 12
    wait_time = between(2, 6)

    @task(3)
    def summary(self):
        self.get(f"/achievement/practices/{self.me['code']}/", "practice summary report")

    @task(1)
    def declare(self):
        path = f"/declarations/{self.me['declaration']}/"
        page = self.get(path, "declaration")
        if page.status_code == 200 and "statement" in page.text:
            self.post(f"{path}declare/", page, {"statement": "on", "notes": ""}, "declare (POST)")


class CommissionerUser(Portal):
    """Approval Management at a sub-ICB location: reads the provider report, approves what awaits it."""

    kind = "commissioner"
    weight = 4
    wait_time = between(2, 6)

    @task(3)
    def provider_report(self):
        self.get(f"/achievement/organisations/{self.me['code']}/practices/", "provider report")

    @task(1)
    def bulk_approve(self):
        page = self.get("/declarations/?state=awaiting_commissioner", "declarations list")
        if page.status_code == 200:
            data = {"step": "approve", "scope": "all", "filter": "state=awaiting_commissioner"}
            self.post("/declarations/", page, data, "bulk approve (POST)")


class SupportUser(Portal):
    """Support watching the runs; the first to get there after LOAD_YEAR_END_AFTER starts the year end."""

    kind = "support"
    weight = 1
    wait_time = between(2, 4)

    @task
    def watch_runs(self):
        self.get("/calculation/runs/", "run list")
        if time.monotonic() - _started < YEAR_END_AFTER or _year_end_started.is_set():
            return
        _year_end_started.set()
        page = self.get("/calculation/runs/year-end/", "start year end")
        if page.status_code == 200:
            data = {
                "service_year": SESSIONS["service_year"],
                "reason": "Declaration-day load test",
                "confirm": "on",
            }
            self.post("/calculation/runs/year-end/", page, data, "start year end (POST)")
