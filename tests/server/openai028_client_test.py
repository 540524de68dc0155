"""gpt-server driven by the article's client, openai==0.28.1, unchanged.

Run by tests/server/run_client_test legacy openai028_client_test.py (ctest:
server_openai028_client). 0.28 sends Completion.create(engine=...) to
POST /v1/engines/{engine}/completions.
"""
import unittest

import openai

from server_fixture import API_KEY, Server


class LegacyClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        openai.api_base = f"http://127.0.0.1:{cls.server.port}/v1"
        openai.api_key = API_KEY

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_the_articles_call(self):
        self.assertEqual(openai.version.VERSION, "0.28.1")
        response = openai.Completion.create(engine="text-davinci-002", prompt="What is the capital of France?",
                                            max_tokens=1, n=1, stop=None, temperature=0.5)
        self.assertEqual(len(response.choices), 1)
        self.assertIsInstance(response.choices[0].text, str)
        self.assertEqual(response.model, "text-davinci-002")
        self.assertLessEqual(response.usage.completion_tokens, 1)
        self.assertGreater(response.usage.prompt_tokens, 0)

    def test_model_argument_and_streaming(self):
        whole = openai.Completion.create(model="SmolLM2-135M-Instruct.Q4_1", prompt="Paris is", max_tokens=8,
                                         temperature=0)
        chunks = list(openai.Completion.create(model="SmolLM2-135M-Instruct.Q4_1", prompt="Paris is",
                                               max_tokens=8, temperature=0, stream=True))
        self.assertEqual("".join(c.choices[0].text for c in chunks), whole.choices[0].text)

    def test_chat(self):
        r = openai.ChatCompletion.create(model="gpt-3.5-turbo", temperature=0, max_tokens=16,
                                         messages=[{"role": "user", "content": "What is the capital of France?"}])
        self.assertEqual(r.choices[0].message.role, "assistant")
        self.assertTrue(r.choices[0].message.content.strip())
        e = openai.ChatCompletion.create(engine="gpt-3.5-turbo", temperature=0, max_tokens=16,
                                         messages=[{"role": "user", "content": "What is the capital of France?"}])
        self.assertEqual(e.choices[0].message.content, r.choices[0].message.content)

    def test_models(self):
        self.assertIn("text-davinci-002", [m.id for m in openai.Model.list().data])

    def test_errors(self):
        with self.assertRaises(openai.error.InvalidRequestError) as e:
            openai.Completion.create(engine="text-davinci-002", prompt="x", max_tokens=1, temperature=7)
        self.assertEqual(e.exception.param, "temperature")
        with self.assertRaises(openai.error.AuthenticationError):
            openai.Completion.create(engine="text-davinci-002", prompt="x", max_tokens=1, api_key="wrong")


if __name__ == "__main__":
    unittest.main()
