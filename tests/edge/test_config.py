"""Edge YAML: bad files fail with the file and key named; `anju edge check` exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from anju.cli import main
from anju.config import ConfigError
from edge.config import load_edge_config

GOOD = """
site_id: site-1
node_id: gate-1
data_dir: {data}
cameras:
  - id: cam-1
    source: file
    url: {clip}
    door_id: door-1
    ring: 2
    zone_id: zone-a
doors:
  - id: door-1
    driver: simulated
    open_time_s: 3
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads(tmp_path: Path) -> None:
    cfg = load_edge_config(write(tmp_path, GOOD.format(data=tmp_path, clip="/x.mp4")))
    assert cfg.cameras[0].ring == 2 and cfg.cameras[0].rtsp_transport == "tcp"
    assert cfg.door("door-1").open_time_s == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("site_id: s\nnode_id: n\ncolour: red\n", "colour: Extra inputs are not permitted"),
        ("site_id: s\n", "node_id: Field required"),
        ("site_id: s\nnode_id: n\ncameras: [{id: c, source: rtsp, url: 'http://x'}]\n", "rtsp://"),
        ("site_id: s\nnode_id: n\ncameras: [{id: c, source: usb, url: 'cam'}]\n", "device index"),
        ("site_id: s\nnode_id: n\ncameras: [{id: c, source: file, url: x, door_id: d9}]\n", "door_id 'd9'"),
        ("site_id: s\nnode_id: n\ndoors: [{id: d}, {id: d}]\n", "duplicate id(s) d"),
        ("site_id: s\nnode_id: n\ndoors: [{id: d, driver: http}]\n", "needs http_url"),
        ("site_id: s\nnode_id: n\ndoors: [{id: d, driver: gpio}]\n", "needs gpio_relay_pin"),
        ("site_id: s\nnode_id: n\ncameras: [{id: c, source: file, url: x, ring: 7}]\n", "cameras.0.ring"),
        ("site_id: s\nnode_id: n\ntimezone: Mars/Base\n", "not a known IANA time zone"),
        ("site_id: 'bad id'\nnode_id: n\n", "site_id: String should match pattern"),
        (
            "site_id: s\nnode_id: n\ndecision: {min_consistent_matches: 0}\n",
            "decision.min_consistent_matches",
        ),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("site_id: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_edge_config(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_edge_config(tmp_path / "nope.yaml")


def test_check_cli_exit_codes(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "site_id: s\nnode_id: n\ncameras: [{id: c, source: file}]\n")
    assert main(["edge", "check", "--config", str(bad)]) == 2
    assert "cameras.0.url: Field required" in capfd.readouterr().err
    clip = Path(__file__).resolve().parents[3] / "shared/testdata/video/short_hamilton_clip.mp4"
    good = tmp_path / "good.yaml"
    good.write_text(GOOD.format(data=tmp_path, clip=clip))
    assert main(["edge", "check", "--config", str(good)]) == 0
    assert "640x360" in capfd.readouterr().err
    missing = tmp_path / "missing.yaml"
    missing.write_text(GOOD.format(data=tmp_path, clip=tmp_path / "no-such.mp4"))
    assert main(["edge", "check", "--config", str(missing)]) == 1
    assert "camera cam-1" in capfd.readouterr().err
