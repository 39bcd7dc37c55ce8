"""Monitor: constructed metric and loss sequences raise exactly the documented codes."""

import json
import math

import numpy as np
import pytest

from fcnstudio.train.events import EvalEvent, to_json_line
from fcnstudio.train.monitor import Monitor

NAMES2 = ["background", "vessel"]
NAMES3 = ["background", "vessel", "tumour"]


def ev(step, true, pred, max_prob=None, iou=None):
    """An EvalEvent with the given per-class true/predicted fractions."""
    n = len(true)
    if iou is None:  # a rough IoU: enough for the plateau rule
        iou = [min(t, p) / max(t, p) if max(t, p) > 0 else math.nan for t, p in zip(true, pred)]
    return EvalEvent(step=step, val_loss=0.3, iou=iou, dice=iou, true_fraction=true, pred_fraction=pred,
                     max_fg_prob=max_prob if max_prob is not None else [0.5] * n)


def feed(monitor, evals):
    """Feed evals; return [(step, code)] of everything emitted."""
    out = []
    for e in evals:
        out += [(w.step, w.code) for w in monitor.on_eval(e)]
    return out


BIN_TRUE = (0.994, 0.006)
OK = (0.993, 0.007)
LOW = (1.0, 0.0)


def binary(seq, start=100):
    """Evals at steps 100, 200, ... from a string: 'o' healthy, 'l' low (<0.1x), 'h' 0.3x, 'b' back."""
    pred = {"o": OK, "l": LOW, "h": (0.994 - 0.0018, 0.0018), "b": (0.991, 0.0036)}
    return [ev(start * (i + 1), BIN_TRUE, pred[c]) for i, c in enumerate(seq)]


def test_healthy_run_raises_nothing():
    m = Monitor(2, NAMES2, 255, "dice+ce", 1e-3)
    assert feed(m, binary("o" * 30)) == []
    rng = np.random.default_rng(0)
    for step in range(1, 3001):  # a falling, noisy loss
        loss = 0.2 + 0.8 * math.exp(-step / 400) + rng.normal(0, 0.05)
        assert m.on_step(step, loss) == []
    assert m.history == []


def test_collapse_background_after_three_evals_past_warmup():
    m = Monitor(2, NAMES2, 255, "ce", 1e-3, class_fractions_from_checker=(0.994, 0.006))
    # eval 1 is warm-up: it does not count, so the warning comes at the 4th low eval
    assert feed(m, binary("lll")) == []
    [w] = m.on_eval(binary("llll")[-1])
    assert (w.code, w.severity, w.step, w.classes) == ("collapse-background", "warning", 400, (1,))
    assert "vessel" in w.message and "3 evaluations in a row" in w.message
    assert "0.6 %" in w.diagnosis and "cross-entropy" in w.diagnosis and "0.001" in w.diagnosis
    actions = [dict(s.action) for s in w.suggestions]
    assert actions == [{"loss": "dice+ce"}, {"class_weights": "auto"}, {"lr": 0.00033}, {"open_checker": True}]
    assert m.active == (("collapse-background", (1,)),)
    # staying collapsed does not repeat the warning
    assert feed(m, binary("llllll", start=1000)) == []


def test_without_checker_the_checker_comes_first_and_no_loss_switch_for_dice_ce():
    m = Monitor(2, NAMES2, None, "dice+ce", 1e-2, warmup_evals=0)
    [w] = m.on_eval(binary("lll")[0]) + m.on_eval(binary("lll")[1]) + m.on_eval(binary("lll")[2])
    assert [dict(s.action) for s in w.suggestions] == [{"open_checker": True}, {"class_weights": "auto"},
                                                       {"lr": 0.0033}]
    assert "validation set (checker not run)" in w.diagnosis


def test_transient_two_eval_dips_do_not_warn():
    m = Monitor(2, NAMES2, 255, "ce", 1e-3)
    assert feed(m, binary("o" + "llo" * 6 + "ll" + "h" + "ll" + "o")) == []


def test_recovery_emits_info_and_the_warning_can_fire_again():
    m = Monitor(2, NAMES2, 255, "ce", 1e-3, warmup_evals=0)
    events = []
    for e in binary("lll" + "h" + "l" + "b" + "ll" + "l"):
        events += m.on_eval(e)
    assert [(w.step, w.code) for w in events] == [
        (300, "collapse-background"),      # 3 lows
        # 400: 0.3x is neither low nor back: nothing (hysteresis)
        (600, "collapse-recovered"),       # 0.6x: back
        (900, "collapse-background"),      # 3 lows again
    ]
    info = events[1]
    assert info.severity == "info" and info.classes == (1,) and info.clears == "collapse-background"
    assert "vessel" in info.message
    assert json.loads(to_json_line(info))["event"] == "info"
    assert m.history == events


def test_max_probability_evidence_slow_versus_collapsed():
    slow = Monitor(2, NAMES2, 255, "ce", 1e-3, warmup_evals=0)
    probs = [0.10, 0.25, 0.40]
    [w] = sum((slow.on_eval(ev(100 * i, BIN_TRUE, LOW, max_prob=[1.0, p])) for i, p in enumerate(probs)), [])
    assert "0.10 → 0.25 → 0.40" in w.diagnosis and "slow, not stuck" in w.diagnosis
    flat = Monitor(2, NAMES2, 255, "ce", 1e-3, warmup_evals=0)
    [w] = sum((flat.on_eval(ev(100 * i, BIN_TRUE, LOW, max_prob=[1.0, 0.02])) for i in range(3)), [])
    assert "collapsed" in w.diagnosis


def test_collapse_single_class():
    m = Monitor(3, NAMES3, 255, "weighted-ce", 1e-2, class_fractions_from_checker=(0.9, 0.07, 0.03))
    true = (0.9, 0.07, 0.03)
    seq = [ev(100 * (i + 1), true, (0.0, 1.0, 0.0)) for i in range(5)]
    out = feed(m, seq)
    assert out == [(400, "collapse-single-class")]  # eval 1 is warm-up
    w = m.history[0]
    assert w.classes == (1,) and "vessel" in w.message
    assert dict(w.suggestions[0].action) == {"lr": 0.001}  # lr / 10 first
    assert {"loss": "dice+ce"} in [dict(s.action) for s in w.suggestions]
    assert {"class_weights": "auto"} not in [dict(s.action) for s in w.suggestions]  # weights already used
    # back to a sane output: background is back, the warning clears
    [info] = m.on_eval(ev(600, true, (0.88, 0.09, 0.03)))
    assert (info.code, info.clears) == ("collapse-recovered", "collapse-single-class")
    assert 0 in info.classes


def test_class_never_predicted_per_class_once_until_it_recovers():
    m = Monitor(3, NAMES3, 255, "ce", 1e-3, warmup_evals=0)
    true = (0.9, 0.07, 0.03)
    fine_1_missing_2 = (0.93, 0.07, 0.0)
    out = feed(m, [ev(100 * (i + 1), true, fine_1_missing_2) for i in range(6)])
    assert out == [(300, "class-never-predicted")]
    w = m.history[0]
    assert w.classes == (2,) and "tumour" in w.message
    assert [dict(s.action) for s in w.suggestions][:2] == [{"loss": "dice+ce"}, {"class_weights": "auto"}]
    [info] = m.on_eval(ev(700, true, (0.9, 0.07, 0.02)))
    assert (info.code, info.classes, info.clears) == ("collapse-recovered", (2,), "class-never-predicted")
    assert feed(m, [ev(800 + 100 * i, true, fine_1_missing_2) for i in range(3)]) == [(1000, "class-never-predicted")]


def test_background_collapse_with_partial_recovery_hands_over_to_class_never_predicted():
    m = Monitor(3, NAMES3, 255, "ce", 1e-3, warmup_evals=0)
    true = (0.9, 0.07, 0.03)
    out = feed(m, [ev(100 * (i + 1), true, (1.0, 0.0, 0.0)) for i in range(3)])
    assert out == [(300, "collapse-background")]
    assert m.history[0].classes == (1, 2)
    # vessel partly back (0.3x): nothing; tumour is covered by the active warning
    assert m.on_eval(ev(400, true, (0.98, 0.02, 0.0))) == []
    # vessel fully back: the background collapse ends; tumour is still missing → its own warning
    evs = m.on_eval(ev(500, true, (0.93, 0.07, 0.0)))
    assert [(w.code, w.classes) for w in evs] == [("collapse-recovered", (1,)), ("class-never-predicted", (2,))]
    assert "not yet back: tumour" in evs[0].message


def test_foreground_class_absent_from_labels_never_warns():
    m = Monitor(3, NAMES3, 255, "ce", 1e-3, warmup_evals=0)
    assert feed(m, [ev(100 * i, (0.95, 0.05, 0.0), (0.95, 0.05, 0.0)) for i in range(8)]) == []
    # labels that are all one foreground class, predicted as such: right, not a collapse
    m3 = Monitor(2, NAMES2, 255, "ce", 1e-3, warmup_evals=0)
    assert feed(m3, [ev(100 * i, (0.0, 1.0), (0.0, 1.0)) for i in range(8)]) == []
    # no foreground in the labels at all: predicting none is right
    m2 = Monitor(2, NAMES2, 255, "ce", 1e-3, warmup_evals=0)
    assert feed(m2, [ev(100 * i, (1.0, 0.0), (1.0, 0.0)) for i in range(8)]) == []


def _reference_bg_reports(evals, warmup):
    """Independent statement of the collapse-background rule for one foreground class."""
    reports, streak, active = [], 0, False
    for i, e in enumerate(evals):
        if i < warmup:
            continue
        t, p = e.true_fraction[1], e.pred_fraction[1]
        if active and t > 0 and p >= 0.5 * t:
            active = False
        streak = streak + 1 if (t > 0 and p < 0.1 * t) else 0
        if streak >= 3 and not active:
            reports.append(e.step)
            active = True
    return reports


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("warmup", [0, 1, 2])
def test_every_reported_collapse_is_real_and_every_real_collapse_is_reported(seed, warmup):
    rng = np.random.default_rng(seed)
    seq = "".join(rng.choice(list("lllhbo"), size=120))
    evals = binary(seq)
    m = Monitor(2, NAMES2, 255, "ce", 1e-3, warmup_evals=warmup)
    emitted = [w for e in evals for w in m.on_eval(e)]
    reported = [w.step for w in emitted if w.code == "collapse-background"]
    assert reported == _reference_bg_reports(evals, warmup)
    # real: the 3-in-a-row rule holds on the emitted numbers, after warm-up
    index = {e.step: i for i, e in enumerate(evals)}
    for step in reported:
        i = index[step]
        assert i - 2 >= warmup
        assert all(evals[j].pred_fraction[1] < 0.1 * evals[j].true_fraction[1] for j in (i - 2, i - 1, i))
    # warnings and recoveries alternate
    codes = [w.code for w in emitted]
    assert all(a != b for a, b in zip(codes, codes[1:]))


def test_same_numbers_same_events():
    seq = binary("lllhlbllllob")
    a, b = Monitor(2, NAMES2, 255, "ce", 1e-3), Monitor(2, NAMES2, 255, "ce", 1e-3)
    assert [w.to_json() for e in seq for w in a.on_eval(e)] == [w.to_json() for e in seq for w in b.on_eval(e)]


def test_loss_nan_once_per_episode_with_lr_first():
    m = Monitor(2, NAMES2, 255, "dice+ce", 1e-3)
    for step in range(1, 31):
        assert m.on_step(step, 0.8) == []
    [w] = m.on_step(31, float("nan"))
    assert w.code == "loss-nan" and dict(w.suggestions[0].action) == {"lr": 0.0001}
    assert {"open_checker": True} in [dict(s.action) for s in w.suggestions]
    assert m.on_step(32, float("inf")) == []
    assert m.on_step(33, 0.8) == []
    assert [x.code for x in m.on_step(34, float("nan"))] == ["loss-nan"]
    # a NaN validation loss counts too
    m2 = Monitor(2, NAMES2, 255, "ce", 1e-3)
    bad = EvalEvent(step=5, val_loss=float("nan"), iou=(1, 1), dice=(1, 1), true_fraction=BIN_TRUE,
                    pred_fraction=BIN_TRUE, max_fg_prob=(1, 1))
    assert [x.code for x in m2.on_eval(bad)] == ["loss-nan"]


def test_loss_diverging_fires_once_with_lower_lr():
    # the rise rule alone (a resumed run: no untrained reference for the blow-up rule)
    m = Monitor(2, NAMES2, 255, "ce", 1e-2, fresh_network=False)
    rng = np.random.default_rng(0)
    losses = [0.7 - 0.4 * i / 200 for i in range(200)] + [0.3 + 0.02 * i for i in range(100)]
    emitted = []
    for step, loss in enumerate(losses, start=1):
        emitted += m.on_step(step, loss + rng.normal(0, 0.02))
    assert [w.code for w in emitted] == ["loss-diverging"]
    w = emitted[0]
    assert 200 < w.step < 300
    assert dict(w.suggestions[0].action) == {"lr": 0.001}
    assert "rising" in w.diagnosis
    # a fresh run with the same losses: the loss climbs past the untrained network's 0.7 first
    fresh = Monitor(2, NAMES2, 255, "ce", 1e-2)
    rng = np.random.default_rng(0)
    emitted = [w for step, loss in enumerate(losses, start=1) for w in fresh.on_step(step, loss + rng.normal(0, 0.02))]
    assert [w.code for w in emitted] == ["loss-diverging"]  # the rise; the blow-up does not repeat it


def test_single_loss_spike_is_not_divergence():
    m = Monitor(2, NAMES2, 255, "ce", 1e-3)
    for step in range(1, 301):
        loss = 50.0 if step == 150 else 0.5 - 0.001 * step
        assert m.on_step(step, loss) == [], step


def test_converged_tiny_loss_noise_is_not_divergence():
    m = Monitor(2, NAMES2, 255, "dice+ce", 1e-3)
    rng = np.random.default_rng(1)
    for step in range(1, 1001):
        loss = 1.0 if step < 20 else 0.01 + abs(rng.normal(0, 0.01))  # "doubles" on noise alone
        assert m.on_step(step, loss) == []


def _flat_run(monitor, fg_iou, steps=1200):
    rng = np.random.default_rng(2)
    emitted = []
    for step in range(1, steps + 1):
        emitted += monitor.on_step(step, 0.6 + rng.normal(0, 0.03))
        if step % 100 == 0:
            emitted += monitor.on_eval(ev(step, BIN_TRUE, OK, iou=[0.99, fg_iou]))
    return emitted


def test_loss_plateau_with_poor_metrics_fires_once():
    m = Monitor(2, NAMES2, 255, "ce", 1e-3)
    emitted = _flat_run(m, fg_iou=0.1)
    assert [w.code for w in emitted] == ["loss-plateau"]
    assert emitted[0].step >= 520  # at least plateau_steps after the loss warm-up
    assert {"lr": 0.00033} in [dict(s.action) for s in emitted[0].suggestions]


def test_no_plateau_while_metrics_are_good_or_loss_still_falls():
    assert _flat_run(Monitor(2, NAMES2, 255, "ce", 1e-3), fg_iou=0.8) == []
    m = Monitor(2, NAMES2, 255, "ce", 1e-3)
    for step in range(1, 2001):  # slow but steady progress, poor metrics
        assert m.on_step(step, 1.0 / (1 + step / 300)) == []
        if step % 100 == 0:
            assert m.on_eval(ev(step, BIN_TRUE, OK, iou=[0.99, 0.1])) == []


def test_set_loss_restarts_loss_tracking():
    m = Monitor(2, NAMES2, 255, "ce", 1e-3)
    for step in range(1, 101):
        m.on_step(step, 0.1)
    m.set_loss("dice+ce")  # a loss on a different scale must not read as divergence
    for step in range(101, 301):
        assert m.on_step(step, 0.9) == []


def test_bad_eval_inputs_raise_value_error():
    m = Monitor(3, NAMES3)
    with pytest.raises(ValueError, match="3 classes"):
        m.on_eval(ev(1, BIN_TRUE, BIN_TRUE))
    with pytest.raises(ValueError, match="class_names"):
        Monitor(2, NAMES3)


@pytest.mark.parametrize("seed", range(4))
def test_three_class_invariants_on_random_sequences(seed):
    """On the monitor's own numbers: reported ⇒ rule held; rule held ⇒ a warning is active."""
    rng = np.random.default_rng(seed)
    true = (0.9, 0.07, 0.03)
    levels = [0.0, 0.05, 0.3, 0.7, 1.0, 1.0]  # multiples of the true fraction
    preds = []
    while len(preds) < 200:  # runs of 1-5 evals of one state, so streaks happen
        if rng.random() < 0.15:
            pred = (0.0, 1.0, 0.0)  # everything predicted as vessel
        else:
            f1, f2 = (true[c] * rng.choice(levels) for c in (1, 2))
            pred = (1.0 - f1 - f2, f1, f2)
        preds += [pred] * int(rng.integers(1, 6))
    evals = [ev(100 * (i + 1), true, p) for i, p in enumerate(preds)]
    m = Monitor(3, NAMES3, 255, "ce", 1e-3, warmup_evals=1)

    def low(e, c):
        return e.pred_fraction[c] < 0.1 * e.true_fraction[c]

    def all_low(e):
        return low(e, 1) and low(e, 2)

    def single(e):
        return e.pred_fraction[1] >= 1 - 1e-6

    seen = {"collapse-background": 0, "class-never-predicted": 0, "collapse-single-class": 0}
    for i, e in enumerate(evals):
        emitted = m.on_eval(e)
        window = evals[i - 2:i + 1] if i - 2 >= 1 else None  # 3 evals after warm-up
        for w in emitted:
            if w.code in seen:
                seen[w.code] += 1
                assert window is not None
            if w.code == "collapse-background":
                assert all(all_low(x) for x in window)
            elif w.code == "collapse-single-class":
                assert all(single(x) for x in window)
            elif w.code == "class-never-predicted":
                (c,) = w.classes
                assert all(low(x, c) for x in window) and not all_low(e) and not single(e)
        if window is None:
            continue
        active = m.active
        watched = {c for code, classes in active for c in classes} | \
            ({1, 2} if any(code == "collapse-single-class" for code, _ in active) else set())
        if all(all_low(x) for x in window):
            assert any(code == "collapse-background" for code, _ in active)
        if all(single(x) for x in window):
            assert any(code == "collapse-single-class" for code, _ in active)
        for c in (1, 2):
            if all(low(x, c) for x in window) and not all_low(e) and not single(e):
                assert c in watched or any(code == "collapse-background" for code, _ in active)
    assert all(seen.values()), seen  # the sequence exercised every rule


def test_thresholds_are_exact():
    true = (0.99, 0.01)

    def run(fractions):
        m = Monitor(2, NAMES2, 255, "ce", 1e-3, warmup_evals=0)
        return feed(m, [ev(100 * (i + 1), true, (1 - f, f)) for i, f in enumerate(fractions)])

    assert run([0.00099] * 3) == [(300, "collapse-background")]   # 0.099x: low
    assert run([0.0011] * 3) == []                                # 0.11x: not low
    assert run([0.0] * 3 + [0.0049]) == [(300, "collapse-background")]  # 0.49x: not back yet
    assert run([0.0] * 3 + [0.0051]) == [(300, "collapse-background"), (400, "collapse-recovered")]


# Training losses of `fcnstudio train` on the sample with Dice + CE (seed 0), first steps.
LR100_LOSSES = [1.79, 56.88, 153.88, 276.14, 77.69, 17.45, 15.61, 90.86, 34.62, 21.64]
LR10_LOSSES = [1.787, 2.04, 3.362, 2.825, 2.212, 2.534, 1.782, 1.542, 3.389, 1.622, 1.484, 1.559]
LR1_LOSSES = [1.79, 1.65, 1.03, 0.9, 0.78, 0.97, 0.81, 0.95, 1.05, 1.21, 0.84, 0.8]


def test_loss_blowing_up_above_the_untrained_network_is_diverging_with_a_sane_lr():
    m = Monitor(3, NAMES3, None, "dice+ce", 100.0)
    emitted = [(step, w) for step, loss in enumerate(LR100_LOSSES + [1.5] * 200, start=1)
               for w in m.on_step(step, loss)]
    assert [(step, w.code) for step, w in emitted] == [(4, "loss-diverging")]  # median(56.9, 154, 276) > 2.5 x 1.79
    w = emitted[0][1]
    assert "untrained" in w.message and "154" in w.message
    assert [dict(s.action) for s in w.suggestions] == [{"lr": 0.001}]
    # the collapse that follows names the lr first, not the loss
    flat = (0.79, 0.2, 0.01)
    evals = [ev(s, flat, (1.0, 0.0, 0.0), max_prob=(1, 0.01, 0.01)) for s in (100, 125, 150, 175, 200)]
    [c] = [w for e in evals for w in m.on_eval(e)]
    assert c.code == "collapse-background"
    assert dict(c.suggestions[0].action) == {"lr": 0.001}
    assert "blew up" in c.diagnosis


def test_lr_suggestion_after_a_blowup_goes_ten_times_lower_at_least():
    m = Monitor(2, NAMES2, 255, "ce", 2e-3)
    emitted = [w for step, loss in enumerate([0.7, 0.7, 2.0, 2.0, 2.0], start=1) for w in m.on_step(step, loss)]
    assert [dict(s.action) for w in emitted for s in w.suggestions] == [{"lr": 0.0002}]


def test_no_blowup_on_batch_to_batch_variation_of_an_untrained_network():
    # lr 10 on the sample (1.6x): left to the dead-network rule
    m = Monitor(3, NAMES3, None, "dice+ce", 10.0)
    assert [w for step, loss in enumerate(LR10_LOSSES, start=1) for w in m.on_step(step, loss)] == []
    # flat predictions under Dice + CE: a foreground-rich first batch, then empty ones (1.47x)
    m = Monitor(2, NAMES2, None, "dice+ce", 1e-3)
    assert [w for step, loss in enumerate([1.148] + [1.693] * 30, start=1) for w in m.on_step(step, loss)] == []
    # a first loss of 0 (Dice on a fully ignored batch) is no reference, and nothing divides by it
    m = Monitor(2, NAMES2, 255, "dice", 1e-3)
    emitted = [w for step, loss in enumerate([0.0, 0.9, 3.0, 3.0, 3.0], start=1) for w in m.on_step(step, loss)]
    assert [w.code for w in emitted] == ["loss-diverging"] and "0.9 of the untrained" in emitted[0].message


def test_after_a_blowup_the_loss_staying_high_is_not_warned_about_again():
    m = Monitor(2, NAMES2, None, "ce", 100.0)
    losses = [0.7, 30.0, 30.0, 30.0] + [1.5 + 0.01 * i for i in range(300)]  # dead, and slowly worse
    assert [w.code for step, loss in enumerate(losses, start=1) for w in m.on_step(step, loss)] == ["loss-diverging"]


def test_no_blowup_while_the_loss_falls_with_noise_and_single_spikes():
    m = Monitor(3, NAMES3, None, "dice+ce", 1.0)
    assert [w for step, loss in enumerate(LR1_LOSSES, start=1) for w in m.on_step(step, loss)] == []
    m = Monitor(2, NAMES2, 255, "ce", 1e-3)
    rng = np.random.default_rng(3)
    for step in range(1, 400):
        loss = 0.7 * math.exp(-step / 150) + abs(rng.normal(0, 0.05)) + (3.0 if step % 97 == 0 else 0.0)
        assert m.on_step(step, loss) == [], step


def test_no_blowup_after_a_resume_or_a_loss_change():
    resumed = Monitor(3, NAMES3, None, "dice+ce", 10.0, fresh_network=False)
    assert [w for step, loss in enumerate(LR10_LOSSES, start=1) for w in resumed.on_step(step, loss)] == []
    changed = Monitor(3, NAMES3, None, "ce", 1e-3)
    changed.on_step(1, 0.9)
    changed.set_loss("dice+ce")  # a larger scale, not a blow-up
    assert [w for step in range(2, 40) for w in changed.on_step(step, 1.6)] == []


def dead_or_alive(step, spread, pred=(1.0, 0.0, 0.0)):
    e = ev(step, (0.79, 0.2, 0.01), pred, max_prob=(1, 0.2, 0.1))
    return EvalEvent(step=e.step, val_loss=1.47, iou=e.iou, dice=e.dice, true_fraction=e.true_fraction,
                     pred_fraction=e.pred_fraction, max_fg_prob=e.max_fg_prob, prob_spread=spread)


def test_a_network_whose_output_turned_constant_is_diverging_and_the_lr_leads():
    # the spreads of a real lr-10 run on the sample (seed 2): dead at the first eval, alive, then dead for good
    m = Monitor(3, NAMES3, None, "dice+ce", 10.0)
    spreads = [(0, 0, 0), (0.77, 0.77, 7.5e-7), (0.69, 0.69, 6.3e-5), (0.48, 0.5, 0.012), (0, 0, 0), (0, 0, 0),
               (0, 0, 0), (0, 0, 0)]
    preds = [(1, 0, 0), (0, 1, 0), (0.41, 0.59, 0), (0, 1, 0)] + [(1, 0, 0)] * 4
    emitted = [w for i, (sp, p) in enumerate(zip(spreads, preds)) for w in m.on_eval(dead_or_alive(15 * (i + 1), sp, p))]
    assert [(w.step, w.code) for w in emitted] == [(90, "loss-diverging"), (105, "collapse-background")]
    dead, collapse = emitted
    assert "same probabilities" in dead.message
    assert [dict(s.action) for s in dead.suggestions] == [{"lr": 0.001}]
    assert dict(collapse.suggestions[0].action) == {"lr": 0.001} and "became constant at step 90" in collapse.diagnosis


def test_a_confident_network_on_background_only_validation_is_not_dead():
    m = Monitor(2, NAMES2, None, "dice+ce", 1e-3)
    healthy = [EvalEvent(step=s, val_loss=0.01, iou=(1.0, math.nan), dice=(1.0, math.nan), true_fraction=(1.0, 0.0),
                         pred_fraction=(1.0, 0.0), max_fg_prob=(1.0, 0.3), prob_spread=sp)
               for s, sp in ((10, (0.5, 0.5)), (20, (0.2, 0.2)), (30, (5e-4, 5e-4)), (40, (1e-4, 1e-4)),
                             (50, (1e-4, 1e-4)))]
    assert [w.code for e in healthy for w in m.on_eval(e)] == []


def test_no_dead_network_on_blank_images_a_living_collapse_or_evals_without_spread():
    blank = Monitor(3, NAMES3, None, "dice+ce", 1e-3)       # any network answers the same on blank images
    said = [w for i in range(8) for w in blank.on_eval(dead_or_alive(i, (0, 0, 0)))]
    assert "loss-diverging" not in [w.code for w in said]
    assert all("lr" not in dict(w.suggestions[0].action) and "too large steps" not in w.diagnosis for w in said)
    alive = Monitor(3, NAMES3, None, "ce", 1e-3)            # plain CE predicting no foreground still looks
    assert "loss-diverging" not in [w.code for i in range(8) for w in alive.on_eval(dead_or_alive(i, (0.7, 0.8, 0.3)))]
    unknown = Monitor(3, NAMES3, None, "ce", 1e-3)          # an eval without the measure (an old events.jsonl)
    assert "loss-diverging" not in [w.code for i in range(8)
                                    for w in unknown.on_eval(ev(i, (0.79, 0.2, 0.01), (1.0, 0.0, 0.0)))]


def test_a_collapse_to_a_constant_output_at_an_absurd_lr_suggests_a_sane_lr_first():
    m = Monitor(3, NAMES3, None, "dice+ce", 10.0)   # dead from the first evaluation: never seen alive
    [c] = [w for i in range(5) for w in m.on_eval(dead_or_alive(15 * (i + 1), (0, 0, 0)))]
    assert c.code == "collapse-background"
    assert dict(c.suggestions[0].action) == {"lr": 0.001} and "same probabilities" in c.diagnosis
    living = Monitor(3, NAMES3, None, "ce", 10.0)    # a living collapse: the loss first, but no lr of 3.3
    [c] = [w for i in range(5) for w in living.on_eval(dead_or_alive(15 * (i + 1), (0.7, 0.8, 0.3)))]
    actions = [dict(s.action) for s in c.suggestions]
    assert actions.index({"loss": "dice+ce"}) < actions.index({"lr": 0.001})


def born_dead(step, images=0.2, untrained=(), spread=(0, 0, 0), pred=(1.0, 0.0, 0.0)):
    """A dead_or_alive eval that also says how much its images vary and how the untrained network spread."""
    e = dead_or_alive(step, spread, pred)
    return EvalEvent(step=e.step, val_loss=e.val_loss, iou=e.iou, dice=e.dice, true_fraction=e.true_fraction,
                     pred_fraction=e.pred_fraction, max_fg_prob=e.max_fg_prob, prob_spread=e.prob_spread,
                     image_spread=images, untrained_spread=untrained)


def test_a_network_dead_from_the_first_eval_on_varying_images_is_diverging_at_the_second():
    m = Monitor(3, NAMES3, None, "dice+ce", 10.0)
    emitted = [w for i in range(6) for w in m.on_eval(born_dead(15 * (i + 1)))]
    assert [(w.step, w.code) for w in emitted] == [(30, "loss-diverging"), (60, "collapse-background")]
    dead, collapse = emitted
    assert "from the first evaluation on" in dead.message and "validation images vary" in dead.message
    assert "untrained" not in dead.message
    assert [dict(s.action) for s in dead.suggestions] == [{"lr": 0.001}]
    # the collapse that follows names the learning rate first, not the labels or the loss
    assert dict(collapse.suggestions[0].action) == {"lr": 0.001}
    assert "from its first evaluation on (step 30): the learning rate is the first suspect" in collapse.diagnosis


def test_a_dead_network_whose_untrained_output_spread_is_diverging_and_says_so():
    m = Monitor(3, NAMES3, None, "dice+ce", 1e-3)  # even at a usual lr: the evidence is in the output
    emitted = [w for i in range(2) for w in m.on_eval(born_dead(i + 1, images=math.nan, untrained=(0.3, 0.3, 0.05)))]
    [dead] = emitted
    assert dead.code == "loss-diverging" and dead.step == 2
    assert "untrained network's output did not (spread up to 0.3)" in dead.message
    assert "images vary" not in dead.message
    both = Monitor(3, NAMES3, None, "dice+ce", 10.0)
    [dead] = [w for i in range(2) for w in both.on_eval(born_dead(i + 1, untrained=(0.3, 0.3, 0.05)))]
    assert "images vary (intensity std up to 0.2) and the untrained network's" in dead.message


def test_dead_from_the_start_needs_evidence_at_each_of_the_first_evals():
    blank = Monitor(3, NAMES3, None, "dice+ce", 10.0)       # blank images: a constant answer proves nothing
    said = [w for i in range(8) for w in blank.on_eval(born_dead(i + 1, images=0.004))]
    assert "loss-diverging" not in [w.code for w in said]
    once_blank = Monitor(3, NAMES3, None, "dice+ce", 10.0)   # the first eval's images were blank
    evals = [born_dead(1, images=0.004)] + [born_dead(i) for i in range(2, 8)]
    assert "loss-diverging" not in [w.code for e in evals for w in once_blank.on_eval(e)]
    alive_first = Monitor(3, NAMES3, None, "dice+ce", 10.0)  # alive at the first eval: the older rule's case
    evals = [born_dead(1, spread=(0.5, 0.5, 0.1))] + [born_dead(i) for i in range(2, 4)]
    assert [(w.step, w.code) for e in evals for w in alive_first.on_eval(e)] == [(3, "loss-diverging")]
    untrained_dead = Monitor(3, NAMES3, None, "dice+ce", 1e-3)  # an untrained output that was constant too
    assert [w.code for i in range(8) for w in untrained_dead.on_eval(
        born_dead(i + 1, images=math.nan, untrained=(5e-4, 5e-4, 1e-4)))] == ["collapse-background"]
    one_class = Monitor(2, NAMES2, None, "dice+ce", 10.0)   # background-only labels: a constant answer is right
    healthy = [EvalEvent(step=s, val_loss=0.01, iou=(1.0, math.nan), dice=(1.0, math.nan), true_fraction=(1.0, 0.0),
                         pred_fraction=(1.0, 0.0), max_fg_prob=(1.0, 0.0), prob_spread=(0.0, 0.0), image_spread=0.3,
                         untrained_spread=(0.4, 0.4)) for s in range(1, 6)]
    assert [w.code for e in healthy for w in one_class.on_eval(e)] == []


def test_after_a_blow_up_the_dead_start_says_nothing_more():
    m = Monitor(3, NAMES3, None, "dice+ce", 10.0)
    said = [w.code for step, loss in enumerate((1.0, 1.1, 9.0, 9.0, 9.0), start=1) for w in m.on_step(step, loss)]
    assert said == ["loss-diverging"]
    assert "loss-diverging" not in [w.code for i in range(4) for w in m.on_eval(born_dead(10 * (i + 1)))]


def test_eval_json_carries_the_image_and_untrained_spreads():
    d = json.loads(to_json_line(born_dead(5, untrained=(0.3, 0.2, 0.1))))
    assert d["image_spread"] == pytest.approx(0.2) and d["untrained_spread"] == pytest.approx([0.3, 0.2, 0.1])
    d = json.loads(to_json_line(dead_or_alive(5, (0, 0, 0))))
    assert d["image_spread"] is None and d["untrained_spread"] == []
