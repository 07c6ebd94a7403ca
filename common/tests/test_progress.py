"""The job progress throttle: a fake clock, so no test sleeps."""

from common.progress import Throttle, ThrottledProgress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _reporter(seconds: float = 0.5):
    clock = FakeClock()
    written: list[tuple[str, float, float]] = []
    progress = ThrottledProgress(
        lambda phase, done, total: written.append((phase, done, total)),
        seconds=seconds,
        clock=clock,
    )
    return progress, clock, written


def test_the_first_call_is_written():
    progress, _, written = _reporter()
    progress("copying", 0, 10)
    assert written == [("copying", 0, 10)]


def test_calls_within_the_interval_are_held_back_and_the_next_due_one_is_written():
    progress, clock, written = _reporter()
    progress("copying", 1, 10)
    for done in range(2, 5):
        clock.advance(0.125)
        progress("copying", done, 10)
    assert written == [("copying", 1, 10)]
    clock.advance(0.125)  # 0.5 s after the first write
    progress("copying", 5, 10)
    assert written == [("copying", 1, 10), ("copying", 5, 10)]


def test_the_final_state_is_always_written_even_right_after_a_write():
    progress, clock, written = _reporter()
    progress("copying", 9, 10)
    clock.advance(0.01)
    progress("copying", 10, 10)
    assert written[-1] == ("copying", 10, 10)


def test_an_empty_total_counts_as_final():
    progress, _, written = _reporter()
    progress("copying", 0, 10)
    progress("copying", 0, 0)
    assert written == [("copying", 0, 10), ("copying", 0, 0)]


def test_a_new_phase_is_written_at_once():
    progress, clock, written = _reporter()
    progress("validating", 3, 10)
    clock.advance(0.01)
    progress("writing", 0, 10)
    assert written == [("validating", 3, 10), ("writing", 0, 10)]


def test_flush_writes_the_state_held_back_and_only_once():
    progress, clock, written = _reporter()
    progress("copying", 1, 10)
    clock.advance(0.1)
    progress("copying", 2, 10)
    progress.flush()
    progress.flush()
    assert written == [("copying", 1, 10), ("copying", 2, 10)]


def test_flush_with_nothing_held_back_writes_nothing():
    progress, _, written = _reporter()
    progress.flush()
    progress("copying", 1, 10)
    progress.flush()
    assert written == [("copying", 1, 10)]


def test_a_forced_write_starts_the_interval_again():
    progress, clock, written = _reporter()
    progress("copying", 1, 10)
    clock.advance(0.375)
    progress("resizing", 1, 10)  # forced: a new phase
    clock.advance(0.25)  # 0.625 s after the first write, 0.25 s after the last
    progress("resizing", 2, 10)
    assert written == [("copying", 1, 10), ("resizing", 1, 10)]


def test_the_interval_is_configurable():
    progress, clock, written = _reporter(seconds=2.0)
    progress("copying", 1, 10)
    clock.advance(1.5)
    progress("copying", 2, 10)
    clock.advance(0.5)
    progress("copying", 3, 10)
    assert written == [("copying", 1, 10), ("copying", 3, 10)]


def test_throttle_says_yes_first_then_once_per_interval():
    clock = FakeClock()
    throttle = Throttle(2.0, clock=clock)
    asked = []
    for _ in range(6):
        asked.append(throttle.due())
        clock.advance(0.5)
    assert asked == [True, False, False, False, True, False]
