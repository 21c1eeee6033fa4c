"""--engine ray: the same transformation on Ray Data (a small local Ray instance)."""

import pytest
from tests.sanitize.conftest import write_jsonl

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_local():
    from privtune.datasets.ray_engine import ensure_ray

    ensure_ray(num_cpus=2)
    yield
    ray.shutdown()


def test_ray_engine_matches_local_output(tmp_path, keyring, ray_local):
    from privtune.config import PrivtuneConfig
    from privtune.datasets.sanitize import merged_config, sanitize
    from privtune.detect import Scanner

    records = [
        {"instruction": f"mail user{i}@corp.io", "output": f"ok {i}", "meta": i}
        for i in range(1500)
    ]
    a = write_jsonl(tmp_path / "a.jsonl", [*records[:700], "{bad"])
    b = write_jsonl(tmp_path / "b.jsonl", records[700:])
    config = merged_config(PrivtuneConfig(), actions={"EMAIL": "pseudonym"})
    local = sanitize([a, b], tmp_path / "local", config=config, keyring=keyring, scanner=Scanner())
    res = sanitize(
        [a, b], tmp_path / "ray", config=config, keyring=keyring, engine="ray", workers=2
    )
    for name in ("train.json", "valid.json", "dataset_info.json"):
        assert (tmp_path / "local/processed" / name).read_bytes() == (
            tmp_path / "ray/processed" / name
        ).read_bytes()
    assert res.summary.quarantined == 1 and res.summary.records_out == 1500
    assert res.summary.findings == local.summary.findings
