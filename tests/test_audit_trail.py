"""The audit trail: append-only segments per domain and day, whole records only, queried through DuckDB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from mesh_core import PortStore
from mesh_core.audit_trail import AuditRecord, append_audit, read_audit
from mesh_core.errors import MeshError
from mesh_core.settings import MeshSettings

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def record(reader: str | None, port: str = "users.profiles", *, at: datetime = NOON, **changes) -> AuditRecord:
    fields = {"time": at, "reader": reader, "run_id": "run-1", "port": port, "version": "v1", "snapshot": 3,
              "action": "read", "decision": "allowed", "policy": "access:restricted", **changes}
    return AuditRecord(**fields)


def test_records_are_segmented_per_domain_and_day_and_filtered(mesh_home: Path):
    settings = MeshSettings.from_env()
    append_audit(settings, record("podcasts"))
    append_audit(settings, record("artists", decision="refused", detail="not a consumer"))
    append_audit(settings, record("artists", "podcasts.plays", at=NOON + timedelta(days=1)))
    append_audit(settings, record(None, "podcasts.episodes", policy="access:public"))

    segments = sorted(str(path.relative_to(mesh_home / "dev" / "_audit")) for path in mesh_home.rglob("*.jsonl"))
    assert segments == ["_anonymous/2026-12-01.jsonl", "artists/2026-12-01.jsonl", "artists/2026-12-02.jsonl",
                        "podcasts/2026-12-01.jsonl"]
    everything = read_audit(settings)
    assert len(everything) == 4
    assert list(everything["time"]) == sorted(everything["time"])
    refused = read_audit(settings, reader="artists", port="users.profiles")
    assert refused[["reader", "decision", "detail", "snapshot", "run_id"]].to_dict("records") == [
        {"reader": "artists", "decision": "refused", "detail": "not a consumer", "snapshot": 3, "run_id": "run-1"}
    ]
    assert list(read_audit(settings, since=NOON + timedelta(hours=1))["port"]) == ["podcasts.plays"]
    assert read_audit(settings, since=datetime(2026, 12, 2, 0, 0))["reader"].tolist() == ["artists"]  # naive = UTC
    assert read_audit(settings, reader="_anonymous")["reader"].isna().all()
    assert read_audit(settings, port="nobody.reads").empty


def test_a_torn_tail_loses_only_itself(mesh_home: Path):
    settings = MeshSettings.from_env()
    append_audit(settings, record("podcasts"))
    segment = mesh_home / "dev" / "_audit" / "podcasts" / "2026-12-01.jsonl"
    whole = record("podcasts", snapshot=4).to_json()
    with segment.open("a") as stream:
        stream.write("\n" + whole[: len(whole) // 2])  # what a writer cut off mid-record would leave
    append_audit(settings, record("podcasts", snapshot=5))

    assert read_audit(settings)["snapshot"].tolist() == [3, 5]


def test_an_empty_or_missing_trail_reads_as_no_records(mesh_home: Path):
    frame = read_audit(MeshSettings.from_env())
    assert frame.empty
    assert list(frame.columns)[:9] == ["time", "reader", "run_id", "port", "version", "snapshot", "action",
                                       "decision", "policy"]


_WRITER = """
import sys
from datetime import datetime, timezone
from mesh_core import PortStore
from mesh_core.audit_trail import AuditRecord, append_audit
from mesh_core.settings import MeshSettings
settings = MeshSettings.from_env()
print("ready", flush=True)
n = 0
while True:
    n += 1
    append_audit(settings, AuditRecord(datetime.now(timezone.utc), sys.argv[1], None, "users.profiles", "v1", n,
                                       "read", "allowed", "access:public", detail="x" * (n % 5000)))
"""


def test_writers_killed_mid_append_leave_every_segment_readable(mesh_home: Path):
    """Two processes append as fast as they can to the same segment and are killed with SIGKILL.

    Linux may stop a write of more than a page part-way for SIGKILL: the record being
    written can be torn, but never another one, and readers skip it.
    """
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, "podcasts"], stdout=subprocess.PIPE, env=os.environ.copy())
        for _ in range(2)
    ]
    try:
        for writer in writers:
            assert writer.stdout.readline() == b"ready\n"
        time.sleep(1.5)
    finally:
        for writer in writers:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
    lines = [line for segment in mesh_home.rglob("*.jsonl") for line in segment.read_text().split("\n") if line]
    whole = [json.loads(line) for line in lines if _parses(line)]
    assert len(whole) > 10
    assert len(lines) - len(whole) <= len(writers), "only a record being written when its writer died may be torn"
    frame = read_audit(MeshSettings.from_env())
    assert len(frame) == len(whole)
    assert (frame["detail"].str.len() == frame["snapshot"] % 5000).all()


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


_READER_AND_PUBLISHER = """
import sys
import pandas as pd
from mesh_core import PortStore
from mesh_core.access import ReadPolicy
store = PortStore.from_env()
policy = ReadPolicy("users", "restricted", consumers=("podcasts",), pii=("email",))
frame = pd.DataFrame({"user_id": range(50), "email": [f"u{i}@example.com" for i in range(50)]})
if sys.argv[1] == "users":
    store.publish("users.profiles", frame, version="1.0.0", policy=policy)
print("ready", flush=True)
reader = store.as_reader(sys.argv[1])
while True:
    if sys.argv[1] == "users":
        store.publish("users.profiles", frame, version="1.0.0", policy=policy)
    else:
        reader.read("users.profiles", 1)
"""


def test_a_publisher_and_a_reader_killed_mid_write_leave_the_trail_and_the_port_readable(mesh_home: Path):
    publisher = subprocess.Popen([sys.executable, "-c", _READER_AND_PUBLISHER, "users"], stdout=subprocess.PIPE)
    reader = None
    try:
        assert publisher.stdout.readline() == b"ready\n"
        reader = subprocess.Popen([sys.executable, "-c", _READER_AND_PUBLISHER, "podcasts"], stdout=subprocess.PIPE)
        assert reader.stdout.readline() == b"ready\n"
        time.sleep(2)
    finally:
        for process in (publisher, reader):
            if process is not None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
    trail = read_audit(MeshSettings.from_env())
    assert set(trail["action"]) == {"read", "publish"}
    assert set(trail.loc[trail["action"] == "read", "reader"]) == {"podcasts"}
    for segment in mesh_home.rglob("*.jsonl"):
        lines = [line for line in segment.read_text().split("\n") if line]
        assert sum(not _parses(line) for line in lines) <= 1, segment
    frame, _ = PortStore.from_env(reader="podcasts").read("users.profiles", 1)
    assert len(frame) == 50


def test_mesh_audit_filters_and_prints_text_or_json(mesh_home: Path):
    from click.testing import CliRunner

    from mesh_core.mesh.cli import main

    settings = MeshSettings.from_env()
    append_audit(settings, record("podcasts"))
    append_audit(settings, record("artists", decision="refused", detail="not a consumer", at=NOON + timedelta(hours=2)))

    def mesh(*args: str):
        return CliRunner().invoke(main, ["audit", *args], catch_exceptions=False)

    text = mesh().output.splitlines()
    assert len(text) == 2 and text[0].startswith("2026-12-01T12:00:00+00:00 read    allowed podcasts users.profiles v1@3")
    assert "refused artists users.profiles v1@3 [access:restricted] run run-1: not a consumer" in text[1]
    records = json.loads(mesh("--reader", "artists", "--format", "json").output)
    assert [(r["reader"], r["decision"], r["snapshot"], r["time"]) for r in records] == [
        ("artists", "refused", 3, "2026-12-01T14:00:00+00:00")
    ]
    assert json.loads(mesh("--since", "2026-12-01T13:00:00", "--port", "users.profiles", "--format", "json").output)[0][
        "reader"] == "artists"
    assert mesh("--port", "podcasts.plays").output == "no audit records\n"
    bad = CliRunner().invoke(main, ["audit", "--since", "yesterday"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_a_publish_whose_audit_record_cannot_be_written_stays_published_and_says_so(mesh_home: Path, caplog):
    """The commit is the publish: an unwritable trail logs a warning instead of failing a committed publish."""
    store = PortStore.from_env()
    (mesh_home / "dev" / "_audit").mkdir(parents=True)
    (mesh_home / "dev" / "_audit" / "users").write_text("a file where the domain's segment folder belongs")
    frame = pd.DataFrame({"user_id": [1, 2]})
    [snapshot] = store.publish_majors("users.profiles", [(frame, "1.0.0")], run_id="r1")
    assert store.current("users.profiles", 1).snapshot_id == snapshot.snapshot_id
    assert "publish record is missing from the audit trail" in caplog.text and "users.profiles v1" in caplog.text
    # Reads stay audited: a read whose record cannot be written is refused, not served unrecorded.
    with pytest.raises(MeshError, match="cannot write the audit trail"):
        PortStore.from_env(reader="users").read("users.profiles", 1)
