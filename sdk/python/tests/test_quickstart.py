"""The product quickstart (examples/quickstart.py) runs unchanged against the server."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import SDK_DIR, ThothServer


def test_quickstart_prints_result_block_and_a_findable_violation_id(thoth_server: ThothServer) -> None:
    env = {
        **os.environ,
        "THOTH_API_URL": thoth_server.url,
        "THOTH_API_KEY": thoth_server.key,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SDK_DIR / "src"), os.environ.get("PYTHONPATH")])),
    }
    completed = subprocess.run(
        [sys.executable, str(SDK_DIR / "examples" / "quickstart.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 3, completed.stdout
    assert lines[0] == "Found 3 docs matching: quarterly report"
    assert lines[1].startswith("Blocked: ") and "submit_payment" in lines[1] and "approved scope" in lines[1]
    assert lines[2].startswith("Violation ID: ")
    violation_id = lines[2].removeprefix("Violation ID: ")
    assert violation_id and violation_id != "None"

    data = thoth_server.wait_feed(lambda items: len(items) > 0, search=violation_id)
    assert any(item.get("violation_id") == violation_id for item in data)
