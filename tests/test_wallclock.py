"""Wall-clock timestamps come from datetime.now(timezone.utc), so freezegun controls them."""

from __future__ import annotations

from datetime import datetime, timezone

from freezegun import freeze_time

from repeating import RepeatedTask
from repeating.testing import VirtualClock


async def test_freezegun_controls_timestamps(clock: VirtualClock) -> None:
    """last_started_at, last_finished_at and next_run_at follow the frozen wall clock."""

    async def work() -> None:
        pass

    task = RepeatedTask(func=work, seconds=60, clock=clock)
    with freeze_time("2026-03-01 12:00:00", real_asyncio=True) as frozen:
        assert task.next_run_at is None
        task.start()
        await clock.advance()
        noon = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
        assert task.last_started_at == noon
        assert task.last_finished_at == noon
        assert task.next_run_at == datetime(2026, 3, 1, 12, 1, tzinfo=timezone.utc)
        frozen.tick(60)
        await clock.advance(60)
        assert task.last_started_at == datetime(2026, 3, 1, 12, 1, tzinfo=timezone.utc)
        assert task.next_run_at == datetime(2026, 3, 1, 12, 2, tzinfo=timezone.utc)
        task.stop()
        await task.join()
    assert task.next_run_at is None
    assert task.last_started_at is not None
    assert task.last_started_at.tzinfo is timezone.utc
