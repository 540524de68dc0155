"""Starts the real gpt-server for the client tests and stops it.

Used by tests/server/*_client_test.py (run by tests/server/run_client_test,
which ctest calls). Environment: GPT_SERVER (the program), GPT_MODEL (the
model file). The server listens on a free port (--port 0) and prints it;
stop() sends SIGTERM and checks that the server exits with 0.

Standard library only: each client test runs in its own virtual environment
with nothing but one version of the official openai package.
"""
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

API_KEY = "test-key-0123456789"


class Server:
    def __init__(self, *extra_args):
        args = [os.environ["GPT_SERVER"], "-m", os.environ["GPT_MODEL"], "--port", "0", "-t", "2",
                "-c", "2048", "--alias", "text-davinci-002", "--max-body", "100000", *extra_args]
        env = dict(os.environ, GPT_API_KEY=API_KEY)
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
        self.log = []
        port_seen = threading.Event()
        self.port = None

        def read_stderr():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on http://[^:]+:(\d+)/", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    port_seen.set()
            port_seen.set()

        threading.Thread(target=read_stderr, daemon=True).start()
        if not port_seen.wait(60) or self.port is None:
            raise RuntimeError("gpt-server did not start:\n" + "".join(self.log))
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            status, _ = self.get("/health", auth=False)
            if status == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("gpt-server did not become ready:\n" + "".join(self.log))

    def request(self, method, path, body=None, auth=True, key=API_KEY):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if auth:
            req.add_header("Authorization", "Bearer " + key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=300) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def get(self, path, auth=True):
        return self.request("GET", path, auth=auth)

    def metric(self, name):
        status, text = self.get("/metrics")
        assert status == 200, text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        if code != 0:
            raise RuntimeError(f"gpt-server exited with {code} after SIGTERM:\n" + "".join(self.log))
