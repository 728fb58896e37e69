from pathlib import Path

import pytest

from e2e.localcluster.node_agent.image_map import (
    ImageMapError,
    load_image_map,
    normalize_image,
    parse_image_map,
    render_template,
)


def test_normalize_image() -> None:
    assert normalize_image("python") == "python:latest"
    assert normalize_image("docker.io/library/python:3.11") == "python:3.11"
    assert normalize_image("ghcr.io/org/app:1@sha256:abc") == "ghcr.io/org/app:1"
    assert normalize_image("localhost:5000/app") == "localhost:5000/app:latest"


def test_default_map_knows_the_serving_image_and_python() -> None:
    image_map = load_image_map()
    serving = image_map.resolve("modeldeploy/serving:0.1.0")
    assert serving is not None
    assert serving.entrypoint == ("{python}", "-m", "modeldeploy_serving")
    assert dict(serving.env)["SERVING_HOST"] == "{pod_ip}"
    assert image_map.resolve("docker.io/library/python:3.11") is not None
    assert image_map.resolve("python") is not None
    assert image_map.resolve("nginx:1.27") is None


def test_first_matching_rule_wins() -> None:
    image_map = parse_image_map(
        {
            "images": [
                {"image": "app:1.*", "entrypoint": ["one"]},
                {"image": "app:*", "entrypoint": ["any"]},
            ]
        }
    )
    rule = image_map.resolve("app:1.2")
    assert rule is not None and rule.entrypoint == ("one",)
    rule = image_map.resolve("app:2")
    assert rule is not None and rule.entrypoint == ("any",)


def test_commands_rewrite_only_the_first_word() -> None:
    image_map = parse_image_map({"images": [], "commands": {"python": "{python}"}})
    assert image_map.rewrite_command(["python", "python"]) == ["{python}", "python"]
    assert image_map.rewrite_command(["sh", "-c", "python"]) == ["sh", "-c", "python"]
    assert image_map.rewrite_command([]) == []


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"images": [{"entrypoint": ["x"]}]},
        {"images": [{"image": "a:*"}]},
        {"images": [{"image": "a:*", "entrypoint": "not-a-list"}]},
        {"images": [{"image": "a:*", "cmd": ["x"], "env": ["A=1"]}]},
        {"images": [], "commands": ["python"]},
    ],
)
def test_malformed_maps_are_rejected(data: object) -> None:
    with pytest.raises(ImageMapError):
        parse_image_map(data)


def test_unreadable_map(tmp_path: Path) -> None:
    with pytest.raises(ImageMapError):
        load_image_map(tmp_path / "missing.yaml")


def test_render_template_leaves_unknown_braces() -> None:
    values = {"python": "/venv/bin/python", "pod_ip": "127.10.0.1"}
    assert render_template("{python} {pod_ip} {other} {}", values) == (
        "/venv/bin/python 127.10.0.1 {other} {}"
    )
