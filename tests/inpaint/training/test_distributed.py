"""Process groups: torchrun's single process gets one, ``--dist-timeout`` reaches it, scans are shared."""
from __future__ import annotations

from datetime import timedelta

import torch
from click.testing import CliRunner

from qdimd.errors import ProblemLog
from inpaint.training import distributed
from inpaint.training.distributed import DistInfo, Share, env_dist_info, init_process_group
from inpaint.training.photos import cached_scan


def test_torchrun_single_process_is_launched(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    info = env_dist_info()
    assert info.launched and info.distributed and info.world_size == 1
    monkeypatch.delenv("WORLD_SIZE")
    assert not env_dist_info().distributed


def test_process_group_gets_the_timeout(monkeypatch):
    calls = []
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda *a, **kw: calls.append((a, kw)))
    init_process_group(DistInfo(launched=True), torch.device("cpu"), 7200.0)   # before the fix: no group for 1 process
    assert calls == [(("gloo",), {"rank": 0, "world_size": 1, "timeout": timedelta(seconds=7200)})]
    init_process_group(DistInfo(), torch.device("cpu"))                          # a plain single process: none
    assert len(calls) == 1


def test_dist_timeout_option_reaches_the_config(monkeypatch, tmp_path):
    from cli.train import train as train_cli
    import inpaint.training.loop as loop

    seen = []

    def fake_train(config, **kwargs):
        seen.append(config)
        raise KeyboardInterrupt   # stops before any work, as Ctrl-C during set-up

    monkeypatch.setattr(loop, "train", fake_train)
    photos = tmp_path / "photos"   # --out beside the photos: an --out inside --images is refused (issue 18)
    photos.mkdir()
    result = CliRunner().invoke(train_cli, ["--images", str(photos), "--out", str(tmp_path / "r"), "--device", "cpu",
                                            "--dist-timeout", "5400"])
    assert seen and seen[0].dist_timeout == 5400.0, result.output
    result = CliRunner().invoke(train_cli, ["--images", str(photos), "--out", str(tmp_path / "r"), "--dist-timeout", "0"])
    assert result.exit_code == 2 and "--dist-timeout" in result.output


class _FakeShare(Share):
    """Rank ``rank`` of ``world``: ``gather`` returns what the other ranks' scans would give (run here in turn)."""

    def __init__(self, rank, world, others):
        self.active, self.rank, self.world_size, self.is_main, self.others = True, rank, world, rank == 0, others

    def from_main(self, make):
        return make()

    def gather(self, items):
        return list(items) + self.others(items)


def test_a_shared_scan_equals_one_scan(photo_dir, tmp_path):
    alone = cached_scan(photo_dir, None, ProblemLog())
    # rank 0 of 3 scans every third file; the other ranks' shares come back through gather
    from inpaint.images import find_images
    from inpaint.training.photos import scan_images

    files = find_images(photo_dir)

    def others(mine):
        if mine and isinstance(mine[0], str):
            return [p.relative_to(photo_dir).as_posix() for r in (1, 2) for p in scan_images(files[r::3], ProblemLog())]
        return []

    share = _FakeShare(0, 3, others)
    shared = cached_scan(photo_dir, tmp_path / "scan.json", ProblemLog(), share=share)
    assert shared == alone and len(alone) == 24 and (tmp_path / "scan.json").is_file()
