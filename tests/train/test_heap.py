"""The collector pause guard: objects are frozen out of collections while the loop runs, and given back after."""

import gc
import threading
import weakref

from fcnstudio.train.events import StepEvent
from fcnstudio.train.heap import frozen_heap
from fcnstudio.train.trainer import Trainer

from test_trainer import tiny, toy_dataset


class Node:
    """A reference cycle only the cyclic collector can free."""

    def __init__(self):
        self.me = self


def test_the_loop_runs_with_the_heap_frozen_and_a_cycle_dropped_meanwhile_is_collected_after(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    cycle = Node()
    gone = weakref.ref(cycle)
    frozen = []

    def on_event(ev):
        if isinstance(ev, StepEvent):
            frozen.append(gc.get_freeze_count())

    trainer = Trainer(data, tiny(max_steps=6, eval_every_steps=100), callback=on_event)
    trainer.prepare()
    holder = [cycle]
    del cycle
    threading.Timer(0, holder.clear).start()  # dropped while the (frozen) run goes on
    done = trainer.run()
    assert done.steps == 6 and len(frozen) == 6
    assert min(frozen) > 10_000                 # torch, the network, the data: out of every collection
    assert gc.get_freeze_count() == 0           # given back when the run ended
    gc.collect()
    assert gone() is None                       # so the cycle frozen with them is freed


def test_nested_and_concurrent_freezes_unfreeze_only_when_the_last_one_ends():
    entered, leave = threading.Event(), threading.Event()

    def other_run():
        with frozen_heap():
            entered.set()
            leave.wait(10)

    other = threading.Thread(target=other_run)
    other.start()
    assert entered.wait(10)
    with frozen_heap():
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > 0       # the inner block's end did not unfreeze
    assert gc.get_freeze_count() > 0           # nor did this thread's: the other run still goes on
    leave.set()
    other.join()
    assert gc.get_freeze_count() == 0
