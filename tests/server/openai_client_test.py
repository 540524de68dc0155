"""gpt-server driven by the official openai Python package, current 3.x.

Run by tests/server/run_client_test current openai_client_test.py (ctest:
server_openai_client). Every expected text here comes from the server
itself (a greedy run without the option under test), never written by hand.
"""
import http.client
import json
import signal
import time
import unittest

import openai
from openai import OpenAI

from server_fixture import API_KEY, Server

PROMPT = "The capital of France is"


class OpenAIClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.client = OpenAI(base_url=cls.server.base + "/v1", api_key=API_KEY, max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()  # SIGTERM; fails unless the exit code is 0

    def complete(self, **kw):
        args = dict(model="SmolLM2-135M-Instruct.Q4_1", prompt=PROMPT, max_tokens=12, temperature=0)
        args.update(kw)
        return self.client.completions.create(**args)

    def test_models(self):
        ids = [m.id for m in self.client.models.list().data]
        self.assertEqual(ids, ["SmolLM2-135M-Instruct.Q4_1", "text-davinci-002"])
        self.assertEqual(self.client.models.retrieve("text-davinci-002").id, "text-davinci-002")
        with self.assertRaises(openai.NotFoundError):
            self.client.models.retrieve("no-such-model")

    def test_completion(self):
        r = self.complete(model="any-name")
        self.assertEqual(r.object, "text_completion")
        self.assertEqual(r.model, "any-name")  # one model: any name is served and echoed
        self.assertEqual(len(r.choices), 1)
        self.assertTrue(r.choices[0].text.strip())
        self.assertIn(r.choices[0].finish_reason, ("length", "stop"))
        # max_tokens=0 generates nothing and counts the same prompt
        zero = self.complete(max_tokens=0)
        self.assertEqual(zero.choices[0].text, "")
        self.assertEqual(zero.usage.completion_tokens, 0)
        self.assertEqual(zero.usage.prompt_tokens, r.usage.prompt_tokens)
        self.assertGreater(r.usage.prompt_tokens, 0)
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)
        self.assertLessEqual(r.usage.completion_tokens, 12)

    def test_token_prompt(self):
        ids = [504, 3575, 282, 4649, 314]
        r = self.complete(prompt=ids, max_tokens=4, echo=True)
        self.assertEqual(r.usage.prompt_tokens, len(ids))
        self.assertEqual(len(r.choices), 1)
        single = self.complete(prompt=ids, max_tokens=4)
        self.assertTrue(r.choices[0].text.endswith(single.choices[0].text))
        again = self.complete(prompt=[ids, ids], max_tokens=4)
        self.assertEqual([c.text for c in again.choices], [single.choices[0].text] * 2)
        with self.assertRaises(openai.BadRequestError) as e:
            self.complete(prompt=[1, 10 ** 7])
        self.assertEqual(e.exception.body["param"], "prompt")

    def test_logprobs_tokens_spell_the_text(self):
        r = self.complete(logprobs=0)
        self.assertEqual("".join(r.choices[0].logprobs.tokens), r.choices[0].text)

    def test_seed(self):
        a = self.complete(temperature=1.0, seed=1234, max_tokens=16)
        b = self.complete(temperature=1.0, seed=1234, max_tokens=16)
        self.assertEqual(a.choices[0].text, b.choices[0].text)
        texts = {self.complete(temperature=1.0, seed=s, max_tokens=16).choices[0].text for s in (1, 2, 3)}
        self.assertGreater(len(texts), 1)

    def test_n(self):
        r = self.complete(n=3, temperature=1.0, seed=7, max_tokens=8)
        self.assertEqual([c.index for c in r.choices], [0, 1, 2])
        # choice k uses seed + k: choice 1 of seed 7 is choice 0 of seed 8.
        single = self.complete(n=1, temperature=1.0, seed=8, max_tokens=8)
        self.assertEqual(r.choices[1].text, single.choices[0].text)

    def test_prompt_array(self):
        r = self.complete(prompt=[PROMPT, "Once upon a time"], n=2, max_tokens=4)
        self.assertEqual([c.index for c in r.choices], [0, 1, 2, 3])
        self.assertEqual(r.choices[0].text, self.complete(max_tokens=4).choices[0].text)

    def test_stop(self):
        full = self.complete(max_tokens=16).choices[0].text
        words = full.split()
        self.assertGreaterEqual(len(words), 3, full)
        stop = words[2]
        r = self.complete(max_tokens=16, stop=[stop, "no-such-stop"])
        self.assertEqual(r.choices[0].text, full[:full.index(stop)])
        self.assertEqual(r.choices[0].finish_reason, "stop")

    def test_logprobs(self):
        r = self.complete(logprobs=3)
        lp = r.choices[0].logprobs
        n = r.usage.completion_tokens
        self.assertEqual(len(lp.tokens), n)
        self.assertEqual(len(lp.token_logprobs), n)
        self.assertEqual(len(lp.top_logprobs), n)
        self.assertEqual("".join(lp.tokens), r.choices[0].text)
        self.assertEqual(lp.text_offset[0], 0)
        for tok, chosen, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
            self.assertLessEqual(chosen, 0.0)
            self.assertLessEqual(len(top), 3)
            # greedy: the chosen token is the most likely one
            self.assertAlmostEqual(chosen, max(top.values()), places=5)

    def test_echo(self):
        r = self.complete(echo=True, max_tokens=4)
        self.assertTrue(r.choices[0].text.startswith(PROMPT))
        self.assertEqual(r.choices[0].text[len(PROMPT):], self.complete(max_tokens=4).choices[0].text)

    def test_streaming_completion(self):
        whole = self.complete(max_tokens=16)
        chunks = list(self.complete(max_tokens=16, stream=True, stream_options={"include_usage": True}))
        text = "".join(c.choices[0].text for c in chunks if c.choices)
        self.assertEqual(text, whole.choices[0].text)
        finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        self.assertEqual(finals, [whole.choices[0].finish_reason])
        self.assertEqual(chunks[-1].usage.completion_tokens, whole.usage.completion_tokens)

    def chat(self, **kw):
        args = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "What is the capital of France?"}],
                    max_tokens=24, temperature=0)
        args.update(kw)
        return self.client.chat.completions.create(**args)

    def test_chat(self):
        r = self.chat()
        self.assertEqual(r.object, "chat.completion")
        self.assertEqual(r.model, "gpt-4o-mini")
        self.assertEqual(r.choices[0].message.role, "assistant")
        self.assertTrue(r.choices[0].message.content.strip())
        self.assertGreater(r.usage.prompt_tokens, 5)
        # max_completion_tokens is the newer name of max_tokens
        self.assertEqual(self.chat(max_tokens=None, max_completion_tokens=24).choices[0].message.content,
                         r.choices[0].message.content)

    def test_chat_streaming(self):
        whole = self.chat()
        chunks = list(self.chat(stream=True, stream_options={"include_usage": True}))
        self.assertEqual(chunks[0].object, "chat.completion.chunk")
        self.assertEqual(chunks[0].choices[0].delta.role, "assistant")
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        self.assertEqual(text, whole.choices[0].message.content)
        self.assertEqual(chunks[-1].choices, [])
        self.assertEqual(chunks[-1].usage.completion_tokens, whole.usage.completion_tokens)

    def test_chat_logprobs(self):
        r = self.chat(logprobs=True, top_logprobs=2, max_tokens=8)
        content = r.choices[0].logprobs.content
        self.assertEqual(len(content), r.usage.completion_tokens)
        self.assertEqual(b"".join(bytes(t.bytes) for t in content).decode("utf-8", "replace"),
                         r.choices[0].message.content)
        for t in content:
            self.assertEqual(len(t.top_logprobs), 2)
            self.assertAlmostEqual(t.logprob, t.top_logprobs[0].logprob, places=5)

    def test_response_format_json(self):
        schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
                                                   "population": {"type": "integer"}},
                  "required": ["city", "population"], "additionalProperties": False}
        r = self.chat(max_tokens=80, temperature=0.7, seed=3,
                      messages=[{"role": "user", "content": "Give the capital of France and its population as JSON."}],
                      response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}})
        self.assertNotEqual(r.choices[0].finish_reason, "length", r.choices[0].message.content)
        value = json.loads(r.choices[0].message.content)
        self.assertEqual(set(value), {"city", "population"})
        self.assertIsInstance(value["city"], str)
        self.assertIsInstance(value["population"], int)
        r = self.chat(max_tokens=120, response_format={"type": "json_object"},
                      messages=[{"role": "user", "content": "Describe Paris as JSON."}])
        if r.choices[0].finish_reason != "length":
            self.assertIsInstance(json.loads(r.choices[0].message.content), dict)
        else:  # cut off: still a prefix of an object
            self.assertTrue(r.choices[0].message.content.lstrip().startswith("{"))

    def test_chat_seed_n(self):
        a = self.chat(temperature=1.0, seed=99, n=2, max_tokens=10)
        b = self.chat(temperature=1.0, seed=99, n=2, max_tokens=10)
        self.assertEqual([c.message.content for c in a.choices], [c.message.content for c in b.choices])
        self.assertEqual([c.index for c in a.choices], [0, 1])

    def test_errors(self):
        with self.assertRaises(openai.BadRequestError) as e:
            self.complete(temperature=5)
        self.assertEqual(e.exception.body["param"], "temperature")
        with self.assertRaises(openai.BadRequestError) as e:
            self.chat(response_format={"type": "json_schema", "json_schema": {
                "name": "x", "schema": {"type": "object", "patternProperties": {}}}})
        self.assertEqual(e.exception.body["param"], "response_format.json_schema.schema")
        self.assertIn("patternProperties", e.exception.message)
        with self.assertRaises(openai.BadRequestError) as e:
            self.complete(max_tokens=100000)
        self.assertEqual(e.exception.code, "context_length_exceeded")
        with self.assertRaises(openai.BadRequestError) as e:
            self.chat(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
        self.assertEqual(e.exception.body["param"], "tools")
        with self.assertRaises(openai.BadRequestError):
            self.complete(extra_body={"mirostat": 2})
        wrong = OpenAI(base_url=self.server.base + "/v1", api_key="wrong", max_retries=0)
        with self.assertRaises(openai.AuthenticationError):
            wrong.completions.create(model="m", prompt="x", max_tokens=1)
        with self.assertRaises(openai.NotFoundError):
            self.client.get("/no/such/route", cast_to=object)

    def test_http_limits(self):
        s = self.server
        self.assertEqual(s.request("POST", "/v1/completions", b"{not json")[0], 400)
        self.assertEqual(s.request("POST", "/v1/completions", {"prompt": "x"}, auth=False)[0], 401)
        status, body = s.request("POST", "/v1/completions", b'{"prompt": "' + b"a" * 200000 + b'"}')
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(body)["error"]["code"], "request_too_large")
        self.assertEqual(s.get("/health", auth=False)[0], 200)
        status, page = s.get("/", auth=False)
        self.assertEqual(status, 200)
        self.assertIn("<html", page.lower())

    def test_disconnect_frees_the_slot(self):
        s = self.server
        cancelled = s.metric("gpt_requests_cancelled_total")
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
        body = json.dumps({"prompt": "Once upon a time", "max_tokens": 1500, "stream": True, "temperature": 1.0,
                           "seed": 3, "logit_bias": {"2": -100, "0": -100}})
        conn.request("POST", "/v1/completions", body, {"Authorization": "Bearer " + API_KEY,
                                                      "Content-Type": "application/json"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        resp.readline()  # the first event: generation is under way
        self.assertEqual(s.metric("gpt_busy_slots"), 1)
        resp.close()
        conn.close()
        deadline = time.time() + 60
        while time.time() < deadline and s.metric("gpt_busy_slots") != 0:
            time.sleep(0.05)
        self.assertEqual(s.metric("gpt_busy_slots"), 0)
        self.assertEqual(s.metric("gpt_requests_cancelled_total"), cancelled + 1)
        # and the server still answers
        self.assertTrue(self.complete(max_tokens=2).choices)


class QueueAndShutdownTest(unittest.TestCase):
    """A server of its own: --max-queue 0, then SIGTERM with a stream in flight."""

    def test_queue_full_then_sigterm_mid_stream(self):
        server = Server("--max-queue", "0", "--parallel", "1")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            conn.request("POST", "/v1/completions",
                         json.dumps({"prompt": "Once upon a time", "max_tokens": 1500, "stream": True, "seed": 1,
                                     "logit_bias": {"2": -100, "0": -100}}),
                         {"Authorization": "Bearer " + API_KEY, "Content-Type": "application/json"})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            resp.readline()
            # the one slot is busy and nobody may wait: 503 with Retry-After
            client = OpenAI(base_url=server.base + "/v1", api_key=API_KEY, max_retries=0)
            with self.assertRaises(openai.InternalServerError) as e:
                client.completions.create(model="m", prompt="x", max_tokens=1)
            self.assertEqual(e.exception.status_code, 503)
            self.assertEqual(e.exception.code, "queue_full")
            self.assertEqual(e.exception.response.headers.get("retry-after"), "1")
            # SIGTERM: the stream is cut with an error event and [DONE], the server exits 0
            server.proc.send_signal(signal.SIGTERM)
            rest = resp.read().decode("utf-8", "replace")
            self.assertIn('"code":"server_shutting_down"', rest)
            self.assertTrue(rest.rstrip().endswith("data: [DONE]"), rest[-200:])
            self.assertEqual(server.proc.wait(timeout=60), 0)
        finally:
            if server.proc.poll() is None:
                server.stop()


if __name__ == "__main__":
    unittest.main()
