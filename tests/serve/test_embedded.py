"""The embedded transformers backend behind the gateway (a tiny random LLaMA, CPU, offline)."""

from __future__ import annotations

import pytest

from privtune.serve.aliases import Alias, StaticAliasResolver
from privtune.serve.apikeys import KeyStore
from privtune.serve.app import Gateway
from privtune.serve.settings import parse_environments
from privtune.serve.store import open_store
from privtune.serve.stub import ServerThread
from privtune.serve.upstream import EmbeddedUpstream

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from privtune.testing.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model", ["hello world"])


def test_embedded_backend_chat_and_stream(tiny_model, tmp_path, keyring, scanner):
    from openai import OpenAI

    db = f"sqlite:///{tmp_path}/s.db"
    keys = KeyStore(open_store(db), keyring.derive_key("api-keys"))
    token, _ = keys.create("prod", ["tiny"])
    gw = Gateway(resolver=StaticAliasResolver({"tiny": Alias("tiny", "tiny", "1", "prod", True)}),
                 keys=keys, scanner=scanner, policies=parse_environments({}),
                 upstream=EmbeddedUpstream(tiny_model, max_new_tokens=12))
    with ServerThread(gw) as srv:
        client = OpenAI(base_url=f"{srv.url}/v1", api_key=token, max_retries=0, timeout=120)
        r = client.chat.completions.create(model="tiny", max_tokens=12,
                                           messages=[{"role": "user", "content": "hi"}])
        assert r.model == "tiny" and r.usage.completion_tokens > 0
        assert isinstance(r.choices[0].message.content, str)
        chunks = list(client.chat.completions.create(
            model="tiny", max_tokens=12, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "hi"}]))
        assert chunks[0].choices[0].delta.role == "assistant"
        assert chunks[-2].choices[0].finish_reason in ("stop", "length")
        assert chunks[-1].usage.completion_tokens > 0
        c = client.completions.create(model="tiny", prompt="hello", max_tokens=8)
        assert c.choices[0].finish_reason in ("stop", "length")
