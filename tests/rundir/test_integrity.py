"""Checkpoint integrity: manifest.json vouches for every file of a run directory by SHA-256;
changed, truncated, unlisted or pickled files and unknown format versions are refused with
one line naming the file; a crash between a file and the manifest does not brick the run;
run directories from before manifests still load."""

import hashlib
import json
import re
import shutil

import numpy as np
import pytest
from checks import REPO

from jumok.cli import main
from jumok.models import load_run
from jumok.rundir import VOUCHED
from jumok.rundir.arrays import npz_data

TINY = ["--hidden-size", "8", "--embed-size", "4", "--batch-size", "16", "--epochs", "2", "--quiet"]
SRC = REPO / "src"


@pytest.fixture(scope="module")
def trained(uppercase_run):
    return uppercase_run(4, TINY)


@pytest.fixture
def run_dir(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def manifest(run_dir):
    return json.loads((run_dir / "manifest.json").read_text())


def error_line(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("jumok: error: ") and "Traceback" not in "\n".join(lines)
    return lines[-1][len("jumok: error: "):]


def npz(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def test_the_manifest_vouches_for_every_checkpoint_file(trained):
    document = manifest(trained)
    assert document["format_version"] == 1
    assert set(document["sha256"]) == {"config.json", "config.toml", "vocab.json", "params.npz", "last.npz",
                                       "history.json"}
    for name, digests in document["sha256"].items():
        assert digests == [hashlib.sha256((trained / name).read_bytes()).hexdigest()], name
    assert json.loads((trained / "config.json").read_text())["format_version"] == 1


def test_a_changed_parameter_file_is_refused(run_dir, capsys):
    arrays = npz(run_dir / "params.npz")
    name = min(arrays)
    arrays[name] = arrays[name] + 1  # still a valid archive of the right shapes
    np.savez(run_dir / "params.npz", **arrays)
    assert main(["predict", str(run_dir), "abc"]) == 1
    assert error_line(capsys) == (f"{run_dir / 'params.npz'}: SHA-256 does not match manifest.json "
                                  "(file changed or truncated after it was written)")


@pytest.mark.parametrize("name", ["config.json", "history.json"])
def test_a_changed_json_file_is_refused(run_dir, capsys, name):
    document = json.loads((run_dir / name).read_text())
    if name == "config.json":
        document["beam"] = 3  # changes nothing about the parameters' shapes
    else:
        document[0]["train_loss"] = 0.0
    (run_dir / name).write_text(json.dumps(document))
    assert main(["predict", str(run_dir), "abc"]) == 1
    assert error_line(capsys).startswith(f"{run_dir / name}: SHA-256 does not match manifest.json")


def test_resume_refuses_a_changed_or_truncated_training_state(run_dir, capsys):
    meta = npz(run_dir / "last.npz")
    state = json.loads(str(meta["meta"]))
    state["lr"] = 1.0
    meta["meta"] = np.array(json.dumps(state))
    np.savez(run_dir / "last.npz", **meta)
    assert main(["train", "--resume", str(run_dir), "--epochs", "3", "--quiet"]) == 1
    assert error_line(capsys) == (f"{run_dir / 'last.npz'}: SHA-256 does not match manifest.json "
                                  "(file changed or truncated after it was written)")
    data = (run_dir / "last.npz").read_bytes()
    (run_dir / "last.npz").write_bytes(data[: len(data) // 2])
    assert main(["train", "--resume", str(run_dir), "--epochs", "3", "--quiet"]) == 1
    assert error_line(capsys).startswith(f"{run_dir / 'last.npz'}: cannot read it as a jumok .npz file, it is "
                                         "truncated or corrupt")


def test_a_file_the_manifest_does_not_list_is_refused(run_dir, capsys):
    document = manifest(run_dir)
    del document["sha256"]["params.npz"]
    (run_dir / "manifest.json").write_text(json.dumps(document))
    assert main(["predict", str(run_dir), "abc"]) == 1
    assert error_line(capsys).startswith(f"{run_dir / 'params.npz'}: not listed in manifest.json")


def test_a_broken_manifest_is_refused(run_dir, capsys):
    (run_dir / "manifest.json").write_text('{"format_version": 1, "sha256": ["x"]}')
    assert main(["predict", str(run_dir), "abc"]) == 1
    assert error_line(capsys).startswith(f"{run_dir / 'manifest.json'}: not a jumok manifest")
    (run_dir / "manifest.json").write_text("{")
    assert main(["predict", str(run_dir), "abc"]) == 1
    assert error_line(capsys).startswith(f"{run_dir / 'manifest.json'}: not valid JSON")


@pytest.mark.parametrize("where", ["config.json", "manifest.json", "last.npz"])
def test_a_newer_format_version_is_refused(run_dir, capsys, where):
    if where == "last.npz":
        arrays = npz(run_dir / "last.npz")
        arrays["meta"] = np.array(json.dumps({**json.loads(str(arrays["meta"])), "version": 99}))
        np.savez(run_dir / "last.npz", **arrays)
        assert main(["train", "--resume", str(run_dir), "--quiet"]) == 1
        assert error_line(capsys) == (f"{run_dir / 'last.npz'}: training state version 99, but this jumok reads "
                                      "versions 1, 2; it was written by a newer jumok")
        return
    document = json.loads((run_dir / where).read_text())
    document["format_version"] = 7
    (run_dir / where).write_text(json.dumps(document))
    for command in (["predict", str(run_dir), "abc"], ["train", "--resume", str(run_dir), "--quiet"]):
        assert main(command) == 1
        assert error_line(capsys) == (f"{run_dir / where}: run directory format version 7, but this jumok reads "
                                      "only version 1; it was written by a newer jumok")


def test_pickled_arrays_are_refused_in_every_checkpoint(run_dir, capsys):
    arrays = npz(run_dir / "last.npz")
    arrays["state.order"] = np.array([{"run": "code"}], dtype=object)
    np.savez(run_dir / "last.npz", **arrays)
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 1
    message = error_line(capsys)
    assert message.startswith(f"{run_dir / 'last.npz'}: entry 'state.order' is a pickled object array")
    assert "allow_pickle=False" in message


def test_every_np_load_in_the_code_refuses_pickles():
    calls = [(path.name, line.strip()) for path in SRC.rglob("*.py")
             for line in path.read_text(encoding="utf-8").splitlines() if re.search(r"\bnp\.load\(", line)]
    assert calls, "expected np.load in jumok.rundir"
    assert all("allow_pickle=False" in line for _, line in calls), calls


def test_a_manifest_listing_old_and_new_digests_accepts_either(run_dir):
    """The state a crash leaves between the manifest's first rewrite and its last: both the
    old and the new params.npz are vouched for, and loading works with either."""
    old = (run_dir / "params.npz").read_bytes()
    arrays = npz(run_dir / "params.npz")
    new = npz_data({k: v * 0.5 for k, v in arrays.items()})
    document = manifest(run_dir)
    document["sha256"]["params.npz"].append(hashlib.sha256(new).hexdigest())
    (run_dir / "manifest.json").write_text(json.dumps(document))
    assert load_run(run_dir).model is not None
    (run_dir / "params.npz").write_bytes(new)
    loaded = load_run(run_dir).model.state_dict()
    assert all(np.array_equal(loaded[k], arrays[k] * 0.5) for k in arrays)
    assert old != new


def test_a_run_directory_from_before_manifests_loads_and_resume_adds_one(run_dir, capsys):
    """Older runs (no manifest.json, no format_version) load without the check; --resume
    vouches for their files as they are and from then on they are checked."""
    (run_dir / "manifest.json").unlink()
    config = json.loads((run_dir / "config.json").read_text())
    del config["format_version"]
    (run_dir / "config.json").write_text(json.dumps(config))
    assert main(["predict", str(run_dir), "abc"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--epochs", "3", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"{run_dir}: no manifest.json (written by an older jumok); vouching for" in err
    assert set(manifest(run_dir)["sha256"]) == set(VOUCHED)
    assert len(json.loads((run_dir / "history.json").read_text())) == 3
    arrays = npz(run_dir / "params.npz")
    np.savez(run_dir / "params.npz", **{k: v + 1 for k, v in arrays.items()})
    assert main(["predict", str(run_dir), "abc"]) == 1
    assert "SHA-256 does not match manifest.json" in error_line(capsys)
