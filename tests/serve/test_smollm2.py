"""A real small model (SmolLM2-135M-Instruct, offline) behind the gateway, asked to
repeat an e-mail address; the client must not receive it, streaming or not."""

from __future__ import annotations

import pytest

from privtune.serve.aliases import Alias, StaticAliasResolver
from privtune.serve.apikeys import KeyStore
from privtune.serve.app import Gateway
from privtune.serve.settings import parse_environments
from privtune.serve.store import open_store
from privtune.serve.stub import ServerThread
from privtune.serve.upstream import EmbeddedUpstream

pytestmark = pytest.mark.slow

EMAIL = "zhang.wei.test@example.com"


def test_real_model_output_is_filtered(smollm2, tmp_path, keyring, scanner):
    from openai import OpenAI

    keys = KeyStore(open_store(f"sqlite:///{tmp_path}/s.db"), keyring.derive_key("api-keys"))
    token, _ = keys.create("prod", ["smol"])
    gw = Gateway(resolver=StaticAliasResolver({"smol": Alias("smol", "smol", "1", "prod", True)}),
                 keys=keys, scanner=scanner, policies=parse_environments({}),
                 upstream=EmbeddedUpstream(smollm2, max_new_tokens=48))
    msgs = [{"role": "user", "content": f"Repeat exactly: my e-mail is {EMAIL}"}]
    with ServerThread(gw) as srv:
        client = OpenAI(base_url=f"{srv.url}/v1", api_key=token, max_retries=0, timeout=300)
        r = client.chat.completions.create(model="smol", messages=msgs, max_tokens=48)
        text = r.choices[0].message.content
        assert EMAIL not in text
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="smol", messages=msgs, max_tokens=48, stream=True) if c.choices)
        assert EMAIL not in streamed
        assert streamed == text  # greedy decoding: the same answer, filtered the same way
