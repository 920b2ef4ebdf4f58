"""Beat runs exactly once: a second beat stands by on the lock and takes over when the first stops."""

from leadcrm import heartbeats
from leadcrm.beat import STANDBY_SECONDS, LockedScheduler
from leadcrm.celery import app as celery_app


def _scheduler(tmp_path, name):
    return LockedScheduler(app=celery_app, schedule_filename=str(tmp_path / name), lazy=True)


def test_only_one_beat_holds_the_lock_and_the_other_takes_over(tmp_path):
    first, second = _scheduler(tmp_path, "one"), _scheduler(tmp_path, "two")
    assert first.lock_acquire() is True
    assert second.lock_acquire() is False
    assert first.lock_acquire() is True  # renewing
    assert second.tick() == STANDBY_SECONDS  # standing by sends nothing
    first.close()
    assert second.lock_acquire() is True
    assert first.lock_acquire() is False
    second.close()


def test_the_holder_records_its_ticks_for_health(tmp_path):
    beat = _scheduler(tmp_path, "one")
    beat.setup_schedule()
    assert heartbeats.beat_tick_age() is None
    beat.tick()
    assert heartbeats.beat_tick_age() is not None and heartbeats.beat_tick_age() < 5
    beat.close()
