import json
import subprocess

from wsiseg.provenance import git_revision, run_record, write_run_record


def test_run_record_names_versions_revision_seed_and_command(tmp_path):
    record = run_record(seed=7)
    assert record["seed"] == 7 and record["packages"]["torch"] and record["packages"]["wsiseg"] == "0.1.0"
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if head:  # a checkout (CI clones one): the revision is the commit, maybe marked dirty
        assert git_revision().split("+")[0] == head
    path = write_run_record(tmp_path, {"a": {"b": 1}}, seed=3)
    saved = json.loads(path.read_text())
    assert saved["config"] == {"a": {"b": 1}} and saved["seed"] == 3 and saved["command"]
