"""A file that vanishes mid-run is left out with a warning; out of memory halves the batch once."""

import torch

from fcnstudio.train.events import DoneEvent, ErrorEvent, StepEvent, WarningEvent
from fcnstudio.train.trainer import Trainer

from test_trainer import tiny, toy_dataset

torch.set_num_threads(1)


def test_a_training_image_deleted_mid_run_is_skipped_with_a_warning(tmp_path):
    data = toy_dataset(tmp_path / "ds", n=6)
    events = []
    trainer = Trainer(data, tiny(max_steps=12, cache_mb=0, seed=1), callback=events.append)
    trainer.prepare()
    victim = trainer.store.pairs[trainer.train_idx[0]]
    victim.image.unlink()
    done = trainer.run()
    assert isinstance(done, DoneEvent), getattr(done, "message", done)
    assert done.steps == 12
    skipped = [e for e in events if isinstance(e, WarningEvent) and e.code == "file-skipped"]
    assert len(skipped) == 1
    assert victim.image.name in skipped[0].message
    assert trainer.train_idx[0] not in trainer.sampler.indices


def test_out_of_memory_halves_the_batch_once_then_stops_cleanly(tmp_path, monkeypatch):
    data = toy_dataset(tmp_path / "ds", n=4)
    events = []
    trainer = Trainer(data, tiny(max_steps=6, batch_size=4), callback=events.append)
    trainer.prepare()
    real_forward = trainer.model.forward
    seen = []

    def forward(x):
        seen.append(x.shape[0])
        if x.shape[0] == 4:  # the first batch size does not fit
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB")
        return real_forward(x)

    monkeypatch.setattr(trainer.model, "forward", forward)
    done = trainer.run()
    assert isinstance(done, DoneEvent), getattr(done, "message", done)
    oom = [e for e in events if isinstance(e, WarningEvent) and e.code == "out-of-memory"]
    assert len(oom) == 1 and "batch 2" in oom[0].message
    assert seen.count(4) == 1 and seen.count(2) == 6  # one failed batch of 4, then six steps of 2
    assert [e.step for e in events if isinstance(e, StepEvent)][-1] == 6

    # a second out-of-memory error ends the run with a one-line message, not a crash
    events2 = []
    again = Trainer(data, tiny(max_steps=6, batch_size=4), callback=events2.append)
    again.prepare()

    def always(x):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")

    monkeypatch.setattr(again.model, "forward", always)
    result = again.run()
    assert isinstance(result, ErrorEvent)
    assert "out of memory even with batch 2" in result.message
    assert "\n" not in result.message and isinstance(events2[-1], ErrorEvent)
