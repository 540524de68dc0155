"""Client side shared by tools/load-test and tools/bench-server: start a
server, send one streaming OpenAI request and read its server-sent events,
percentiles. Standard library only.

Works against gpt-server and llama-server alike: both answer
/v1/completions and /v1/chat/completions with "data: {json}" events ending in
"data: [DONE]", and both put "usage" in the last event when the request asks
for stream_options.include_usage.
"""
import http.client
import json
import re
import socket
import subprocess
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _drain(stream):
    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


def start_gpt_server(binary, model, extra):
    """Starts gpt-server on any free port; returns (process, port) once it says it is ready."""
    proc = subprocess.Popen([binary, "-m", model, "--port", "0", *extra], stderr=subprocess.PIPE, text=True)
    port = None
    for line in proc.stderr:
        m = re.search(r"listening on http://[^:]+:(\d+)/", line)
        if m:
            port = int(m.group(1))
        if "ready" in line:
            break
    if port is None:
        proc.kill()
        raise SystemExit(f"{binary} did not start (exit {proc.wait()})")
    _drain(proc.stderr)
    return proc, port


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_server(binary, model, extra, timeout=300):
    """Starts llama-server on a free port; returns (process, port) once /health answers 200."""
    port = free_port()
    proc = subprocess.Popen([binary, "-m", model, "--host", "127.0.0.1", "--port", str(port), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tail = []

    def keep_tail():
        for line in proc.stderr:
            tail.append(line)
            del tail[:-20]

    threading.Thread(target=keep_tail, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{binary} exited with {proc.returncode}:\n" + "".join(tail))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{binary} did not become healthy in {timeout} s:\n" + "".join(tail))


class StreamResult:
    """What one request got: the HTTP status, the body when it was not a stream
    (status != 200), seconds to the first generated text, usage, whether the
    stream ended with [DONE], an error event if one came, whether the client
    closed the stream after the first text (cancel_after_first)."""

    def __init__(self):
        self.status = None
        self.body = b""
        self.ttft = None
        self.seconds = None
        self.usage = None
        self.saw_done = False
        self.error = None
        self.cancelled = False


def stream_request(host, port, path, body, timeout, cancel_after_first=False):
    """Sends one POST (stream=true expected in body) and reads its events.
    Time to first token is measured from just before the request is sent to
    the first event that carries generated text (completions: choices[].text;
    chat: choices[].delta.content). Exceptions (connection refused, timeouts)
    propagate to the caller."""
    chat = "chat" in path
    r = StreamResult()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        r.status = resp.status
        if resp.status != 200:
            r.body = resp.read()
            return r
        for raw in resp:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                r.saw_done = True
                break
            ev = json.loads(data)
            if "error" in ev:
                r.error = ev["error"]
                return r
            if ev.get("usage"):
                r.usage = ev["usage"]
            for c in ev.get("choices") or []:
                piece = (c.get("delta") or {}).get("content") if chat else c.get("text")
                if piece and r.ttft is None:
                    r.ttft = time.monotonic() - t0
            if cancel_after_first and r.ttft is not None:
                resp.close()
                r.cancelled = True
                return r
        r.seconds = time.monotonic() - t0
        return r
    finally:
        conn.close()


def run_clients(count, concurrency, fn):
    """Calls fn(i) for i in range(count) from `concurrency` threads, each taking the next i."""
    lock = threading.Lock()
    nxt = [0]

    def worker():
        while True:
            with lock:
                i = nxt[0]
                if i >= count:
                    return
                nxt[0] += 1
            fn(i)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def metric(host, port, name):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def pct(xs, p):
    """The p-th percentile, nearest rank on the sorted values (nan when empty)."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
