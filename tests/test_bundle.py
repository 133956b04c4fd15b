"""Backups and session bundles: a round trip into an empty home, archives that must be refused, and a backup
taken while 20 voters write."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from playground.core import backup, bundle
from playground.core.bundle import BundleError
from playground.core.workspace import Workspace
from playground.stages.preferences.pairs import record_vote, serve_pair

REPO = Path(__file__).resolve().parent.parent
MESSAGES = [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."}]


def _vote(ws: Workspace, n: int, annotator: str = "ann") -> int:
    served = serve_pair([{"role": "user", "content": f"prompt {n}"}], [f"left {n}", f"right {n}"],
                        [{"model": "tiny"}, {"model": "tiny", "adapter": "run-x"}], pool="workshop")
    return record_vote(ws, served, "a", annotator=annotator, reason=f"because {n}")


def _tiny_adapter(dest: Path) -> dict[str, object]:
    """A real LoRA adapter on the tiny model, saved with nonzero B so loading it changes the outputs."""
    import torch
    from peft import LoraConfig, get_peft_model

    from playground.core import models

    model = models.load_causal_lm(models.resolve("tiny"), "cpu")
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft_model.save_pretrained(dest)
    return {k: v.detach().clone() for k, v in peft_model.state_dict().items() if "lora_" in k}


def _make_session(h: Path) -> dict[str, object]:
    """Datasets, votes, a finished run with metrics and an adapter, and a user preset, in home `h`."""
    ws = Workspace()
    ws.create_dataset("capitals", "geography")
    ws.add_rows("capitals", [{"messages": MESSAGES}, {"prompt": "2+2?", "completion": "4"}])
    vote_ids = [_vote(ws, n) for n in range(5)]
    run = h / "runs" / "sft-1"
    (run / "adapter").mkdir(parents=True)
    (run / "config.yaml").write_text("model: tiny\nlearning_rate: 0.02\n")
    (run / "status.json").write_text(json.dumps({"state": "succeeded", "pid": None, "started": 1.0, "ended": 2.0,
                                                 "error": None}))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "time": s / 10, "loss": 3.0 - s / 10}) + "\n"
                                               for s in range(1, 6)))
    (run / "checkpoints" / "checkpoint-5").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-5" / "optimizer.pt").write_bytes(b"x" * 1000)
    lora = _tiny_adapter(run / "adapter")
    ws.register_run("sft-1", "sft", run, {"model": "tiny", "learning_rate": 0.02})
    (h / "presets" / "sft").mkdir(parents=True)
    (h / "presets" / "sft" / "mine.yaml").write_text("model: tiny\nmax_steps: 3\n")
    return {"votes": vote_ids, "lora": lora}


def test_round_trip_into_an_empty_home(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = _make_session(home)
    before = Workspace()
    steps: list[float] = []
    info = bundle.export_bundle(tmp_path / "session.tar.gz", progress=lambda f, _w: steps.append(f))
    assert info.counts["datasets"] == 1 and info.counts["pairs"] == 5 and info.counts["runs"] == 1
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps)
    with tarfile.open(info.path) as tf:
        names = tf.getnames()
    assert "runs/sft-1/adapter/adapter_model.safetensors" in names and "presets/sft/mine.yaml" in names
    assert not any("checkpoints" in n for n in names)  # large and only for resuming: left out by default

    other = tmp_path / "other-home"
    monkeypatch.setenv("PLAYGROUND_HOME", str(other))
    bundle.import_bundle(info.path)
    after = Workspace()
    assert [d["name"] for d in after.list_datasets()] == ["capitals"]
    assert after.rows("capitals") and [r["data"] for r in after.rows("capitals")] == \
        [r["data"] for r in before.rows("capitals")]
    strip = [{k: v for k, v in p.items()} for p in before.pairs()]
    assert after.pairs() == strip and [p["id"] for p in after.pairs()] == made["votes"]
    assert after.pairs()[0]["choice"] == "a" and after.pairs()[0]["reason"] == "because 0"
    run = after.get_run("sft-1")
    assert run["config"] == {"model": "tiny", "learning_rate": 0.02}
    assert Path(run["run_dir"]) == other / "runs" / "sft-1"  # points into the new home, not the old one
    assert [json.loads(x)["loss"] for x in (other / "runs/sft-1/metrics.jsonl").read_text().splitlines()] == \
        [2.9, 2.8, 2.7, 2.6, 2.5]
    assert (other / "presets/sft/mine.yaml").read_text() == "model: tiny\nmax_steps: 3\n"

    from peft import PeftModel

    from playground.core import models

    loaded = PeftModel.from_pretrained(models.load_causal_lm(models.resolve("tiny"), "cpu"),
                                       str(other / "runs/sft-1/adapter"))
    got = {k: v for k, v in loaded.state_dict().items() if "lora_" in k}
    assert set(got) == set(made["lora"]) and all((got[k] == v).all() for k, v in made["lora"].items())
    assert any(v.abs().sum() > 0 for k, v in got.items() if "lora_B" in k)


def test_import_never_overwrites_without_force(home: Path, tmp_path: Path) -> None:
    ws = Workspace()
    ws.create_dataset("mine")
    first = _vote(ws, 1)
    archive = bundle.export_bundle(tmp_path / "b.tar.gz").path
    _vote(ws, 2)  # work done after the export
    with pytest.raises(BundleError, match="already holds 1 datasets, 2 pairs.*--force"):
        bundle.import_bundle(archive)
    assert [p["id"] for p in ws.pairs()] == [first, first + 1]  # untouched
    with pytest.raises(BundleError, match="exists.*--force"):
        bundle.export_bundle(archive)

    info = bundle.import_bundle(archive, force=True)
    assert [p["id"] for p in ws.pairs()] == [first]  # the bundle's state
    assert info.backup is not None and bundle.db_counts(info.backup)["pairs"] == 2  # the replaced one, kept


def _bundle_with(tmp_path: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]], name: str = "bad.tar.gz",
                 list_extra: bool = True) -> Path:
    """A genuine bundle of an empty workspace plus hand-made members (listed in the manifest when files)."""
    db = tmp_path / f"{name}.db"
    Workspace(db)
    data = db.read_bytes()
    files = {"playground.db": {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}}
    for info, payload in extra:
        if list_extra and payload is not None:
            files[info.name] = {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    manifest = json.dumps({"format": bundle.FORMAT, "version": bundle.VERSION, "files": files}).encode()
    out = tmp_path / name
    with tarfile.open(out, "w:gz") as tf:
        ti = tarfile.TarInfo("playground.db")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
        for info, payload in extra:
            if payload is not None:
                info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload) if payload is not None else None)
        ti = tarfile.TarInfo("manifest.json")
        ti.size = len(manifest)
        tf.addfile(ti, io.BytesIO(manifest))
    return out


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = kind, target
    return ti


@pytest.mark.parametrize("member, payload, message", [
    (tarfile.TarInfo("runs/x/../../../evil.txt"), b"pwned", "climbs out with '..'"),
    (tarfile.TarInfo("../evil.txt"), b"pwned", "climbs out with '..'"),
    (tarfile.TarInfo("/tmp/evil.txt"), b"pwned", "absolute path"),
    (_link("runs/x/adapter", "/etc"), None, "holds a link"),
    (_link("runs/x/config.yaml", "../../playground.db", tarfile.LNKTYPE), None, "holds a link"),
    (tarfile.TarInfo("runs/x/adapter/big.safetensors"), b"0" * 300_000, "over the .* limit"),
    (tarfile.TarInfo("elsewhere/notes.txt"), b"hi", "not a part of a playground bundle"),
], ids=["traversal-inside", "traversal", "absolute", "symlink", "hardlink", "oversize", "stray"])
def test_malicious_archives_are_refused_and_change_nothing(home: Path, tmp_path: Path, member: tarfile.TarInfo,
                                                           payload: bytes | None, message: str) -> None:
    archive = _bundle_with(tmp_path, [(member, payload)])
    with pytest.raises(BundleError, match=message) as err:
        bundle.import_bundle(archive, max_member=200_000)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())
    assert [p.name for p in home.iterdir() if p.name.startswith(".bundle")] == []  # no staging left behind
    assert bundle.db_counts(home / "playground.db") == {"datasets": 0, "rows": 0, "pairs": 0, "runs": 0}


def test_edited_or_unlisted_files_are_refused(home: Path, tmp_path: Path) -> None:
    ti = tarfile.TarInfo("runs/x/config.yaml")
    archive = _bundle_with(tmp_path, [(ti, b"model: tiny\n")], "unlisted.tar.gz", list_extra=False)
    with pytest.raises(BundleError, match="not in the manifest"):
        bundle.import_bundle(archive)
    # a file whose bytes differ from its manifest entry: rewrite one member of a genuine bundle
    Workspace().create_dataset("d")
    good = bundle.export_bundle(tmp_path / "good.tar.gz").path
    Workspace().delete_dataset("d")
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(good) as src, tarfile.open(tampered, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name == "playground.db":
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(BundleError, match="does not match its sha256"):
        bundle.import_bundle(tampered)
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive at all")
    with pytest.raises(BundleError, match="not a bundle archive"):
        bundle.import_bundle(tmp_path / "junk.tar.gz")


def test_cli_refusal_is_one_line(home: Path, tmp_path: Path) -> None:
    archive = _bundle_with(tmp_path, [(tarfile.TarInfo("../evil.txt"), b"pwned")])
    proc = subprocess.run([sys.executable, "-m", "playground", "bundle", "import", str(archive)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["error: refused: the archive holds a path that climbs out with "
                                                "'..' ('../evil.txt')"]


def test_backup_during_20_concurrent_voters_keeps_every_acknowledged_vote(home: Path, tmp_path: Path) -> None:
    Workspace()
    acked: list[int] = []  # ids whose record_vote returned: the voter was told "saved"
    lock = threading.Lock()
    errors: list[BaseException] = []
    stop = threading.Event()

    def voter(n: int) -> None:
        ws = Workspace()
        try:
            for i in range(40):
                rid = _vote(ws, n * 1000 + i, annotator=f"voter-{n}")
                with lock:
                    acked.append(rid)
                if stop.is_set():
                    return
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=voter, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    snapshots = []
    while any(t.is_alive() for t in threads) or not snapshots:
        with lock:
            before = set(acked)
        out = backup.backup(tmp_path / f"backup-{len(snapshots)}.db")
        with lock:
            after = set(acked)
        snapshots.append((out, before, after))
        if len(snapshots) >= 6:
            stop.set()
    for t in threads:
        t.join()
    assert not errors
    taken_mid_vote = [s for s in snapshots if s[1] != s[2] or len(s[1]) < len(acked)]
    assert taken_mid_vote, "no backup overlapped the voting"
    for out, before, _after in snapshots:
        backup.check_database(out)
        con = sqlite3.connect(out)
        try:
            ids = {r[0] for r in con.execute("SELECT id FROM pairs")}
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
        finally:
            con.close()
        assert before <= ids, f"{len(before - ids)} acknowledged votes missing from {out.name}"
        assert ids <= set(acked)  # nothing half-written or invented
    final = backup.backup(tmp_path / "final.db")
    assert {p["id"] for p in Workspace(final).pairs()} == set(acked)


def test_admin_panel_exports_backs_up_and_imports(home: Path, tmp_path: Path) -> None:
    """The panel's endpoints through gradio_client: download a bundle and a backup, import into another home."""
    import gradio as gr
    from gradio_client import Client, handle_file

    from playground.ui.widgets import workspace_panel
    from tests.conftest import free_port

    ws = Workspace()
    ws.create_dataset("capitals")
    ws.add_rows("capitals", [{"messages": MESSAGES}])
    _vote(ws, 1)
    with gr.Blocks() as demo:
        workspace_panel.build(None)
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        bundle_file, message = client.predict(False, api_name="/workspace_export")
        assert "1 datasets (1 rows), 1 preference pairs" in message
        backup_file, message = client.predict(api_name="/workspace_backup")
        assert {p["id"] for p in Workspace(backup_file).pairs()} == {p["id"] for p in ws.pairs()}
        _summary, message = client.predict(handle_file(bundle_file), False, api_name="/workspace_import")
        assert message.startswith("⚠️ the workspace") and "--force" in message  # never overwrites unasked
        assert len(ws.pairs()) == 1
    finally:
        demo.close()
