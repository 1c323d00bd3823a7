"""Cron schedules: fire times, daylight-saving transitions, clock jumps, validation."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from repeating import RepeatedTask, repeat_at
from repeating.locks import FileLock
from repeating.testing import VirtualClock

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc


class Fires:
    """Records each run's wall-clock time (the virtual clock's) in a time zone."""

    def __init__(self, clock: VirtualClock, tz: ZoneInfo) -> None:
        self.clock = clock
        self.tz = tz
        self.at: list[str] = []

    async def __call__(self) -> None:
        self.at.append(datetime.fromtimestamp(self.clock.time(), self.tz).isoformat())


async def run_days(cron: str, tz: ZoneInfo, start: datetime, days: float) -> list[str]:
    """The local fire times of `cron` over `days` days of virtual time from `start`."""
    clock = VirtualClock(start=start)
    fires = Fires(clock, tz)
    task = RepeatedTask(func=fires, cron=cron, tz=tz, clock=clock)
    task.start()
    await clock.advance(days * 86400)
    task.stop()
    await task.join()
    return fires.at


async def test_runs_at_each_fire_time_in_utc_by_default() -> None:
    """'*/15 * * * *' from 10:07 UTC runs at 10:15, 10:30, 10:45, 11:00."""
    clock = VirtualClock(start=datetime(2026, 6, 1, 10, 7, tzinfo=UTC))
    fires = Fires(clock, ZoneInfo("UTC"))
    task = RepeatedTask(func=fires, cron="*/15 * * * *", clock=clock)
    assert task.tz is UTC
    task.start()
    await clock.advance(3600 - 7 * 60)
    assert fires.at == [
        "2026-06-01T10:15:00+00:00",
        "2026-06-01T10:30:00+00:00",
        "2026-06-01T10:45:00+00:00",
        "2026-06-01T11:00:00+00:00",
    ]
    assert task.next_run_at == datetime(2026, 6, 1, 11, 15, tzinfo=UTC)
    task.stop()
    await task.join()


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        (
            BERLIN,
            datetime(2026, 3, 28, 12, tzinfo=BERLIN),
            [
                "2026-03-29T03:00:00+02:00",  # 02:30 does not exist: at the gap's end
                "2026-03-30T02:30:00+02:00",
                "2026-03-31T02:30:00+02:00",
            ],
        ),
        (
            NEW_YORK,
            datetime(2026, 3, 7, 12, tzinfo=NEW_YORK),
            [
                "2026-03-08T03:00:00-04:00",
                "2026-03-09T02:30:00-04:00",
                "2026-03-10T02:30:00-04:00",
            ],
        ),
    ],
)
async def test_spring_forward_runs_a_missing_local_time_once_at_the_gap_end(
    tz: ZoneInfo, day: datetime, expected: list[str]
) -> None:
    """A fixed local time inside the spring-forward gap runs once, when the gap ends."""
    assert await run_days("30 2 * * *", tz, day, 3) == expected


@pytest.mark.parametrize(
    ("tz", "cron", "day", "expected"),
    [
        (
            BERLIN,
            "30 2 * * *",
            datetime(2026, 10, 24, 12, tzinfo=BERLIN),
            [
                "2026-10-25T02:30:00+02:00",  # the first 02:30 only
                "2026-10-26T02:30:00+01:00",
                "2026-10-27T02:30:00+01:00",
            ],
        ),
        (
            NEW_YORK,
            "30 1 * * *",
            datetime(2026, 10, 31, 12, tzinfo=NEW_YORK),
            [
                "2026-11-01T01:30:00-04:00",
                "2026-11-02T01:30:00-05:00",
                "2026-11-03T01:30:00-05:00",
            ],
        ),
    ],
)
async def test_fall_back_runs_a_repeated_local_time_once_at_its_first_occurrence(
    tz: ZoneInfo, cron: str, day: datetime, expected: list[str]
) -> None:
    """A fixed local time that occurs twice on the fall-back day runs once, the first time."""
    assert await run_days(cron, tz, day, 3) == expected


@pytest.mark.parametrize(
    ("tz", "spring", "fall"),
    [
        (BERLIN, datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 10, 25, tzinfo=BERLIN)),
        (
            NEW_YORK,
            datetime(2026, 3, 8, tzinfo=NEW_YORK),
            datetime(2026, 11, 1, tzinfo=NEW_YORK),
        ),
    ],
)
async def test_hourly_jobs_follow_real_time_across_both_transitions(
    tz: ZoneInfo, spring: datetime, fall: datetime
) -> None:
    """'0 * * * *' runs every real hour: 23 runs on the spring-forward day, 25 on fall-back."""
    spring_day = await run_days("0 * * * *", tz, spring - timedelta(seconds=1), 23 / 24)
    assert [int(fire[11:13]) for fire in spring_day] == [0, 1, *range(3, 24)]
    fall_day = await run_days("0 * * * *", tz, fall - timedelta(seconds=1), 25 / 24)
    # The repeated hour runs twice, once per UTC offset.
    assert [int(fire[11:13]) for fire in fall_day] == [0, 1, 1, *range(2, 24)] or [
        int(fire[11:13]) for fire in fall_day
    ] == [0, 1, 2, 2, *range(3, 24)]
    assert len(set(fall_day)) == 25


@pytest.mark.parametrize(
    ("tz", "before", "first", "second"),
    [
        # 2026-03-29 01:59:59.95 in Berlin; 02:30 runs at 03:00 CEST.
        (
            BERLIN,
            datetime(2026, 3, 29, 0, 59, 59, 950000, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
            datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        ),
        (
            NEW_YORK,
            datetime(2026, 3, 8, 6, 59, 59, 950000, tzinfo=UTC),
            datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
            datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
        ),
    ],
)
async def test_spring_forward_on_the_real_wall_clock(
    tz: ZoneInfo, before: datetime, first: datetime, second: datetime
) -> None:
    """freezegun: before the gap ends, next_run_at is its end; the run comes, then the
    next day's."""
    with freeze_time(before, real_asyncio=True) as frozen:
        await check_one_fire("30 2 * * *", tz, first, second, frozen)


@pytest.mark.parametrize(
    ("tz", "cron", "before", "first", "second"),
    [
        # 02:30 CEST (00:30 UTC) runs; 02:30 CET an hour later does not.
        (
            BERLIN,
            "30 2 * * *",
            datetime(2026, 10, 25, 0, 29, 59, 950000, tzinfo=UTC),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
        ),
        (
            NEW_YORK,
            "30 1 * * *",
            datetime(2026, 11, 1, 5, 29, 59, 950000, tzinfo=UTC),
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
            datetime(2026, 11, 2, 6, 30, tzinfo=UTC),
        ),
    ],
)
async def test_fall_back_on_the_real_wall_clock(
    tz: ZoneInfo, cron: str, before: datetime, first: datetime, second: datetime
) -> None:
    """freezegun: the repeated local time runs at its first occurrence; next is the next day."""
    with freeze_time(before, real_asyncio=True) as frozen:
        await check_one_fire(cron, tz, first, second, frozen)


async def check_one_fire(
    cron: str, tz: ZoneInfo, first: datetime, second: datetime, frozen: Any
) -> None:
    """Start `cron` 50 ms before `first`; once its 50 ms wait has begun, move the wall clock
    past `first`: it runs once, then waits for `second`."""
    ran_at: list[float] = []

    async def record() -> None:
        # async: freezegun gives worker threads the real time.
        ran_at.append(time.time())

    task = RepeatedTask(func=record, cron=cron, tz=tz)
    task.start()
    await until(lambda: task.next_run_at is not None)
    assert task.next_run_at == first
    frozen.move_to(first + timedelta(milliseconds=500))
    await until(lambda: task.count == 1 and task.next_run_at is not None)
    assert first.timestamp() <= ran_at[0] < first.timestamp() + 1
    assert task.next_run_at == second
    task.stop()
    await task.join()


async def until(condition: Any) -> None:
    """Poll `condition` on the real event loop (the test's timeout bounds it)."""
    while not condition():  # noqa: ASYNC110 - no event to wait for: a task's attributes
        await asyncio.sleep(0.005)


async def test_a_wall_clock_jump_forward_runs_once_and_counts_the_skipped() -> None:
    """Hourly job, wall clock jumps 5 h ahead while it waits: one run, 5 skipped, no burst."""
    ran: list[float] = []
    with freeze_time("2026-06-01 10:59:59.98", real_asyncio=True) as frozen:
        task = RepeatedTask(func=lambda: ran.append(time.time()), cron="0 * * * *")
        task.start()
        await until(lambda: task.next_run_at is not None)
        assert task.next_run_at == datetime(2026, 6, 1, 11, tzinfo=UTC)
        frozen.move_to("2026-06-01 16:00:30")
        await until(lambda: task.count == 1 and task.next_run_at is not None)
        await asyncio.sleep(0.05)  # time for a burst, were there one
        assert task.count == 1
        assert task.skipped == 5  # 11:00 to 15:00; 16:00 ran
        assert task.next_run_at == datetime(2026, 6, 1, 17, tzinfo=UTC)
        task.stop()
        await task.join()


async def test_a_wall_clock_jump_back_neither_runs_nor_moves_the_next_fire_time() -> None:
    """Hourly job, wall clock set back 90 min while it waits: no run, still waiting for 11:00."""
    with freeze_time("2026-06-01 10:59:59.98", real_asyncio=True) as frozen:
        task = RepeatedTask(func=lambda: None, cron="0 * * * *")
        task.start()
        await until(lambda: task.next_run_at is not None)
        frozen.move_to("2026-06-01 09:30:00")
        await asyncio.sleep(0.1)  # the 20 ms wait has ended; the wall clock says 09:30
        assert task.count == 0
        assert task.next_run_at == datetime(2026, 6, 1, 11, tzinfo=UTC)
        task.stop()
        await task.join()


async def test_trigger_pause_and_resume_keep_the_cron_schedule() -> None:
    """trigger() runs at once without moving fire times; resume() skips the missed ones."""
    clock = VirtualClock(start=datetime(2026, 6, 1, 10, 0, 30, tzinfo=UTC))
    fires = Fires(clock, ZoneInfo("UTC"))
    task = RepeatedTask(func=fires, cron="* * * * *", clock=clock)
    task.start()
    await clock.advance(10)
    task.trigger()
    await clock.advance(20)  # 10:01:00
    task.pause()
    await clock.advance(150)  # 10:03:30
    assert task.next_run_at is None
    task.resume()
    await clock.advance(30)  # 10:04:00
    assert fires.at == [
        "2026-06-01T10:00:40+00:00",
        "2026-06-01T10:01:00+00:00",
        "2026-06-01T10:04:00+00:00",
    ]
    assert task.skipped == 0
    task.stop()
    await task.join()


async def test_wait_first_seconds_skips_fire_times_right_after_start() -> None:
    """wait_first=90 with '* * * * *' from 10:00:30: the first run is at 10:03."""
    clock = VirtualClock(start=datetime(2026, 6, 1, 10, 0, 30, tzinfo=UTC))
    fires = Fires(clock, ZoneInfo("UTC"))
    task = RepeatedTask(func=fires, cron="* * * * *", wait_first=90, clock=clock)
    task.start()
    await clock.advance(150)
    assert fires.at == ["2026-06-01T10:03:00+00:00"]
    task.stop()
    await task.join()


async def test_a_run_that_overruns_skips_the_fire_times_it_covered() -> None:
    """'* * * * *' with a run of 150 s: runs at 10:01 and 10:04; 10:02 and 10:03 skipped."""
    clock = VirtualClock(start=datetime(2026, 6, 1, 10, 0, 30, tzinfo=UTC))
    starts: list[float] = []

    async def slow() -> None:
        starts.append(clock.time())
        await clock.sleep(150)

    task = RepeatedTask(func=slow, cron="* * * * *", clock=clock)
    task.start()
    await clock.advance(4 * 60)
    assert [datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S") for t in starts] == [
        "10:01:00",
        "10:04:00",
    ]
    assert task.skipped == 2
    task.cancel()
    await task.join()


async def test_repeat_at_is_a_drop_in_for_fastapi_utilities() -> None:
    """@repeat_at(cron=...) builds and starts a task per call; max_repetitions ends it."""
    clock = VirtualClock(start=datetime(2026, 6, 1, 23, 59, tzinfo=BERLIN))
    fires = Fires(clock, BERLIN)

    @repeat_at(cron="0 0 * * *", tz="Europe/Berlin", max_repetitions=2, clock=clock)
    async def midnight() -> None:
        await fires()

    task = midnight()  # called, not awaited, as with fastapi-utilities
    assert task.schedule == "cron '0 0 * * *' (Europe/Berlin)"
    await clock.advance(3 * 86400)
    await task.join()
    assert fires.at == ["2026-06-02T00:00:00+02:00", "2026-06-03T00:00:00+02:00"]
    assert not task.running


async def test_cron_with_a_lock_runs_each_fire_time_in_one_task(tmp_path: Path) -> None:
    """Two tasks on one FileLock, '*/5 * * * *' for an hour: 12 runs in all; tick = fire time."""
    clock = VirtualClock(start=datetime(2026, 6, 1, 10, 0, 1, tzinfo=UTC))
    runs: list[tuple[float, int | None]] = []
    tasks: list[RepeatedTask] = []

    def make_run(index: int) -> Any:
        return lambda: runs.append((clock.time(), tasks[index].tick))

    for index in range(2):
        tasks.append(
            RepeatedTask(
                func=make_run(index),
                cron="*/5 * * * *",
                name="cleanup",
                lock=FileLock(tmp_path),
                clock=clock,
            )
        )
        tasks[index].start()
    await clock.advance(3600)
    expected = [datetime(2026, 6, 1, 10, 5, tzinfo=UTC).timestamp() + 300 * k for k in range(12)]
    assert sorted(at for at, _ in runs) == expected
    assert all(tick == round(at) for at, tick in runs)
    assert sum(task.count for task in tasks) == 12
    for task in tasks:
        task.stop()
        await task.join()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"cron": "61 * * * *"}, ValueError, "cron expression '61 * * * *' is invalid: Bad minute"),
        ({"cron": "* * *"}, ValueError, "is invalid: Wrong number of fields"),
        ({"cron": "0 0 31 2 *"}, ValueError, "is invalid: Bad day-of-month"),
        ({"cron": 5}, TypeError, "cron must be a str such as '0 3 * * *', got 5"),
        (
            {"cron": "* * * * *", "tz": "Mars/Olympus_Mons"},
            ValueError,
            "tz must name a time zone of the IANA database such as 'Europe/Berlin', "
            "got 'Mars/Olympus_Mons'",
        ),
        ({"cron": "* * * * *", "tz": 1}, TypeError, "tz must be a time zone name or a tzinfo"),
        ({"cron": "* * * * *", "seconds": 60}, TypeError, "pass exactly one of seconds"),
        ({"seconds": 60, "tz": "UTC"}, TypeError, "tz applies to cron schedules only"),
        ({"cron": "* * * * *", "wait_first": True}, ValueError, "wait_first=True has no meaning"),
        ({"cron": "* * * * *", "fixed_delay": True}, ValueError, "fixed_delay applies to"),
        ({"cron": "* * * * *", "jitter": 1}, ValueError, "jitter applies to seconds="),
    ],
)
def test_bad_cron_options_are_refused_at_construction(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Each bad cron option raises at construction, naming the argument and the value."""
    with pytest.raises(error, match=re.escape(message)):
        RepeatedTask(func=lambda: None, **kwargs)


def test_repeat_at_refuses_a_bad_expression_at_decoration() -> None:
    """@repeat_at with a bad expression fails when decorating, not at startup."""
    with pytest.raises(ValueError, match="cron expression 'every day' is invalid"):
        repeat_at(cron="every day")(lambda: None)


def test_repr_shows_the_cron_schedule() -> None:
    """The schedule appears in repr, for logs: the expression and the zone."""
    task = RepeatedTask(func=lambda: None, cron="0 3 * * *", tz="Europe/Berlin", name="purge")
    assert repr(task) == "<RepeatedTask 'purge' cron '0 3 * * *' (Europe/Berlin), stopped, count=0>"


def test_repeat_at_refuses_six_fields_whose_order_differs_from_fastapi_utilities() -> None:
    """'0 3 * * * 0' is 03:00:00 daily to croniter, 00:03 on Sundays to cronsim: refused."""
    with pytest.raises(ValueError, match="reads a sixth field as seconds at the end"):
        repeat_at(cron="0 3 * * * 0")
    task = RepeatedTask(func=lambda: None, cron="30 0 3 * * *")  # seconds first: 03:00:30
    assert task.cron == "30 0 3 * * *"


async def test_nicknames_are_the_usual_expressions() -> None:
    """'@daily' runs at midnight, '@hourly' at each hour; '@reboot' is refused, with the list."""
    clock = VirtualClock(start=datetime(2026, 6, 1, 22, 30, tzinfo=UTC))
    fires = Fires(clock, ZoneInfo("UTC"))
    daily = RepeatedTask(func=fires, cron="@daily", clock=clock)
    daily.start()
    await clock.advance(86400)
    assert fires.at == ["2026-06-02T00:00:00+00:00"]
    daily.stop()
    await daily.join()
    with pytest.raises(ValueError, match="the nicknames are @yearly, @annually"):
        RepeatedTask(func=lambda: None, cron="@reboot")


async def test_local_time_zone_follows_tz_with_daylight_saving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tz='local' with TZ=Europe/Berlin: 03:00 is 01:00 UTC in summer, 02:00 UTC in winter."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    clock = VirtualClock(start=datetime(2026, 10, 23, 12, tzinfo=UTC))
    ran: list[str] = []
    task = RepeatedTask(
        func=lambda: ran.append(datetime.fromtimestamp(clock.time(), UTC).strftime("%H:%M")),
        cron="0 3 * * *",
        tz="local",
        clock=clock,
    )
    task.start()
    await clock.advance(2 * 86400)
    assert ran == ["01:00", "02:00"]
    task.stop()
    await task.join()
    monkeypatch.setenv("TZ", "Nowhere/Special")
    with pytest.raises(ValueError, match=r"tz='local': TZ='Nowhere/Special' does not name"):
        RepeatedTask(func=lambda: None, cron="0 3 * * *", tz="local")


async def test_tasks_registers_a_repeat_at_function() -> None:
    """Tasks.add() takes a repeat_at function, which it calls (not awaits) at startup."""
    from repeating.fastapi import Tasks

    clock = VirtualClock(start=datetime(2026, 6, 1, 10, 0, 30, tzinfo=UTC))
    fires = Fires(clock, ZoneInfo("UTC"))
    tasks = Tasks()

    @tasks.add
    @repeat_at(cron="* * * * *", clock=clock)
    async def minutely() -> None:
        await fires()

    async with tasks:
        await clock.advance(60)
    assert fires.at == ["2026-06-01T10:01:00+00:00"]


def test_latest_includes_an_exact_fire_time() -> None:
    """Cron.latest(t) is t itself when t is a fire time (cronsim steps back first)."""
    from repeating._cron import Cron

    every_second = Cron("* * * * * *")
    assert every_second.latest(1000.0) == 1000.0
    assert every_second.latest(1000.5) == 1000.0
    assert Cron("0 * * * *").latest(7200.0) == 7200.0


async def test_a_jump_past_the_counting_limit_still_runs_once() -> None:
    """A per-second job whose wall clock jumps 2 h: one run, 1000 counted, no second run."""
    t0 = datetime(2026, 6, 1, 10, 0, 0, tzinfo=UTC)
    runs: list[float] = []

    async def job() -> None:
        runs.append(time.time())

    with freeze_time(t0, real_asyncio=True) as frozen:
        task = RepeatedTask(func=job, cron="* * * * * *")
        task.start()
        await until(lambda: task.next_run_at is not None)
        frozen.move_to(t0 + timedelta(hours=2))
        await until(lambda: task.count == 1 and task.next_run_at is not None)
        await asyncio.sleep(0.05)
        assert len(runs) == 1
        assert task.skipped == 1000
        task.stop()
        await task.join()


@pytest.mark.parametrize("tz", ["Europe", "America/Argentina", "a" * 5000])
def test_a_tz_that_is_no_zone_is_refused_with_a_value_error(tz: str) -> None:
    """A directory of the zone database, or an absurd name, is a ValueError naming tz."""
    with pytest.raises(ValueError, match="tz must name a time zone of the IANA database"):
        RepeatedTask(func=lambda: None, cron="0 3 * * *", tz=tz)


def test_a_tzinfo_that_does_not_work_is_refused() -> None:
    """A bare tzinfo() cannot give an offset: refused at construction."""
    from datetime import tzinfo

    with pytest.raises(ValueError, match="tz must be a working tzinfo"):
        RepeatedTask(func=lambda: None, cron="0 3 * * *", tz=tzinfo())  # type: ignore[abstract]


async def test_trigger_while_paused_counts_no_skipped_fire_times() -> None:
    """Paused for 35 min of a '*/10' job, one trigger(): one run and nothing skipped."""
    clock = VirtualClock(start=datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC))
    task = RepeatedTask(func=lambda: None, cron="*/10 * * * *", clock=clock)
    task.start()
    await clock.advance(1)
    task.pause()
    await clock.advance(35 * 60)
    task.trigger()
    await clock.advance(1)
    task.resume()
    await clock.advance(1)
    assert (task.count, task.skipped) == (1, 0)
    task.stop()
    await task.join()


async def test_timestamps_follow_the_clock_of_the_schedule() -> None:
    """On VirtualClock(start=2030-...), a cron task's last_started_at is in 2030 too."""
    clock = VirtualClock(start=datetime(2030, 1, 1, 2, 59, tzinfo=UTC))
    task = RepeatedTask(func=lambda: None, cron="0 3 * * *", clock=clock)
    task.start()
    await clock.advance(60)
    assert task.last_started_at == datetime(2030, 1, 1, 3, 0, tzinfo=UTC)
    assert task.last_finished_at == datetime(2030, 1, 1, 3, 0, tzinfo=UTC)
    assert task.next_run_at == datetime(2030, 1, 2, 3, 0, tzinfo=UTC)
    task.stop()
    await task.join()


def test_evolve_turns_a_cron_task_into_an_interval_task() -> None:
    """attrs.evolve(task, cron=None, tz=None, seconds=5) makes an interval task; without
    tz=None the resolved zone is refused, with a message naming it."""
    import attrs

    nightly = RepeatedTask(func=lambda: None, cron="0 3 * * *")
    assert nightly.tz is UTC
    every_five = attrs.evolve(nightly, cron=None, tz=None, seconds=5)
    assert (every_five.seconds, every_five.cron, every_five.tz) == (5.0, None, None)
    with pytest.raises(TypeError, match="tz applies to cron schedules only, got tz="):
        attrs.evolve(nightly, cron=None, seconds=5)


@pytest.mark.parametrize("start", [-1.0, 1e12, 10**400])
def test_virtual_clock_start_stays_within_datetimes(start: float) -> None:
    """A start a cron schedule could not turn into dates is refused."""
    with pytest.raises(ValueError, match="start must be from 1970 to 3000"):
        VirtualClock(start=start)


def test_local_zone_is_resolved_once_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    """tz='local' reads TZ when the task is built; later changes to TZ do not move it."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    task = RepeatedTask(func=lambda: None, cron="0 3 * * *", tz="local")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert str(task.tz) == "Europe/Berlin"
    assert task.schedule == "cron '0 3 * * *' (Europe/Berlin)"


@pytest.mark.parametrize(
    ("value", "zone"),
    [(":/usr/share/zoneinfo/Asia/Tokyo", "/usr/share/zoneinfo/Asia/Tokyo"), (":UTC", "UTC")],
)
def test_local_zone_takes_the_forms_of_tz_the_c_library_takes(
    monkeypatch: pytest.MonkeyPatch, value: str, zone: str
) -> None:
    """TZ=':/path/to/zone' and TZ=':Name' work; a POSIX rule is refused with advice."""
    if zone.startswith("/") and not Path(zone).exists():
        pytest.skip(f"{zone} is not on this machine")
    monkeypatch.setenv("TZ", value)
    task = RepeatedTask(func=lambda: None, cron="0 3 * * *", tz="local")
    assert str(task.tz) == zone
    monkeypatch.setenv("TZ", "JST-9")
    with pytest.raises(ValueError, match="POSIX rules such as 'JST-9' are not supported"):
        RepeatedTask(func=lambda: None, cron="0 3 * * *", tz="local")


def test_pytz_zones_are_refused() -> None:
    """A tzinfo with localize() (pytz) would give wrong offsets: refused, with advice."""
    from datetime import timezone as dt_timezone

    class PytzLike(dt_timezone.__base__):  # type: ignore[misc,name-defined]
        def localize(self, value: object) -> object:
            return value

        def utcoffset(self, value: object) -> timedelta:
            return timedelta(0)

    with pytest.raises(TypeError, match="pytz time zones are not supported"):
        RepeatedTask(func=lambda: None, cron="0 3 * * *", tz=PytzLike())


async def test_a_resume_during_a_triggered_run_counts_nothing_skipped() -> None:
    """Paused 10 min; trigger(); resume() while that run goes on: nothing counted skipped."""
    clock = VirtualClock(start=1_700_000_000)

    async def job() -> None:
        await clock.sleep(1)

    task = RepeatedTask(func=job, cron="* * * * *", clock=clock)
    task.start()
    await clock.advance(1)
    task.pause()
    await clock.advance(600)
    task.trigger()
    await clock.advance(0.5)
    task.resume()
    await clock.advance(1)
    assert (task.count, task.skipped) == (1, 0)
    task.cancel()
    await task.join()


def test_a_locked_period_below_a_millisecond_is_refused(tmp_path: Path) -> None:
    """lock= with seconds=1e-6: refused, as timestamps cannot tell such ticks apart."""
    with pytest.raises(ValueError, match=r"seconds must be at least 0\.001 with lock="):
        RepeatedTask(func=lambda: None, seconds=1e-6, lock=FileLock(tmp_path))


async def test_the_virtual_clock_may_run_past_its_start_range() -> None:
    """The 1970-3000 range applies to start only: advance() may go beyond it."""
    clock = VirtualClock(start=32_503_680_000)
    await clock.advance(1)
    assert clock.time() == 32_503_680_001
