# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The policy for abandoned partial uploads: which names, which ages, what
this process is uploading, and when sweeps run."""

import datetime
import logging
import threading
import time
import uuid

import pytest

from glance_store_vmware import partials
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import files
from glance_store_vmware.vsphere import paths

UUID = '6f7a0c3e-2b7c-4d2a-9a64-0d1c1e2b3a4f'
HEX = '0123456789abcdef0123456789abcdef'
NOW = datetime.datetime(2026, 12, 2, 12, 0, 0, tzinfo=datetime.timezone.utc)
MAX_AGE = 3600
INTERVAL = 600
DIR = paths.DatastoreFile('dc1', 'ds1', 'openstack_glance')


def entry(name, age, size=5):
    modified = None if age is None else NOW - datetime.timedelta(
        seconds=age)
    return files.DirectoryEntry(name=name, size=size, modified=modified)


def part(image_id=UUID, token=HEX):
    return '.%s.%s.part' % (image_id, token)


# Names ------------------------------------------------------------------

def test_temp_names_are_ours_and_unique():
    names = {partials.temp_name(UUID) for _ in range(100)}
    assert len(names) == 100
    assert {partials.image_of(n) for n in names} == {UUID}


@pytest.mark.parametrize('name, image_id', [
    (part(), UUID),
    (part('img.with.dots'), 'img.with.dots'),
    (part('x'), 'x'),
])
def test_our_pattern_names_the_image(name, image_id):
    assert partials.image_of(name) == image_id


@pytest.mark.parametrize('name', [
    UUID,                                   # a final image
    part()[1:],                             # not hidden
    part(token=HEX[:-1]),                   # 31 hex digits
    part(token=HEX + '0'),                  # 33
    part(token=HEX.upper()),                # not uuid4().hex
    part(token='g' * 32),
    part() + '.upload-123',                 # the simulator's own temp file
    part()[:-len('.part')] + '.tmp',
    '.%s.part' % HEX,                       # no image id
    part('.hidden'),                        # ids never start with a dot
    part('a/b'),
    part('a\\b'),
    part('a\nb'),
    '.hidden',
    'notes.part',
    '',
])
def test_other_names_are_never_candidates(name):
    assert partials.image_of(name) is None


# Age --------------------------------------------------------------------

def test_judge_by_age_against_the_given_clock():
    old, young, edge = part(token='a' * 32), part(token='b' * 32), \
        part(token='c' * 32)
    abandoned, kept = partials.judge(
        [entry(old, MAX_AGE + 1), entry(young, 10), entry(edge, MAX_AGE),
         entry(UUID, 10 * MAX_AGE), entry('.hidden', 10 * MAX_AGE)],
        NOW, MAX_AGE)
    assert [e.name for e in abandoned] == [old]
    assert sorted((e.name, left) for e, left in kept) == [
        (young, MAX_AGE - 10), (edge, 0)]


def test_files_from_the_future_are_young():
    future = entry(part(), -300)
    abandoned, young = partials.judge([future], NOW, MAX_AGE)
    assert abandoned == [] and young == [(future, MAX_AGE + 300)]


def test_files_without_modification_time_are_left_alone():
    assert partials.judge([entry(part(), None)], NOW, MAX_AGE) == ([], [])


def test_judge_for_one_image():
    mine, other = part(), part('other-image')
    abandoned, young = partials.judge(
        [entry(mine, 2 * MAX_AGE), entry(other, 2 * MAX_AGE)], NOW, MAX_AGE,
        image_id=UUID)
    assert [e.name for e in abandoned] == [mine] and young == []


def test_uploading_marks_a_file_of_this_process():
    temp = DIR.child(partials.temp_name(UUID))
    assert not partials.is_uploading(temp)
    with partials.uploading(temp):
        assert partials.is_uploading(temp)
        assert not partials.is_uploading(DIR.child(part()))
    assert not partials.is_uploading(temp)


# Sweeps -----------------------------------------------------------------

class FakeFiles:
    """A datastore directory: {DatastoreFile: DirectoryEntry}."""

    def __init__(self):
        self.entries = {}
        self.now = NOW
        self.lists = 0
        self.list_error = None
        self.delete_errors = []
        self.deleted = []
        self.listed = threading.Event()

    def add(self, name, age, dsdir=DIR):
        self.entries[dsdir.child(name)] = entry(name, age)
        return dsdir.child(name)

    def server_time(self):
        return self.now

    def list_directory(self, dsdir):
        self.lists += 1
        self.listed.set()
        if self.list_error is not None:
            raise self.list_error
        return [e for f, e in self.entries.items() if f.parent() == dsdir]

    def delete(self, dsfile):
        if self.delete_errors:
            raise self.delete_errors.pop(0)
        if dsfile not in self.entries:
            raise errors.NotFound(str(dsfile))
        del self.entries[dsfile]
        self.deleted.append(dsfile.name)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake():
    return FakeFiles()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def reclaimer(fake, clock):
    r = partials.Reclaimer(fake, max_age=MAX_AGE, interval=INTERVAL,
                           clock=clock)
    yield r
    r.request([])   # wakes a sleeping worker so that it can see it is done


def sweep(reclaimer, *dirs, image=None):
    reclaimer.request(list(dirs), image=image)
    assert reclaimer.wait_idle(10)


def test_a_sweep_removes_only_abandoned_partials(reclaimer, fake):
    old = fake.add(part(token='a' * 32), MAX_AGE + 1)
    young = fake.add(part(token='b' * 32), 60)
    image = fake.add(UUID, 10 * MAX_AGE)
    hidden = fake.add('.hidden.part', 10 * MAX_AGE)
    sweep(reclaimer, DIR)
    assert fake.deleted == [old.name]
    assert set(fake.entries) == {young, image, hidden}


def test_files_this_process_is_uploading_are_skipped(reclaimer, fake):
    busy = fake.add(part(token='a' * 32), 10 * MAX_AGE)
    with partials.uploading(busy):
        sweep(reclaimer, DIR)
    assert fake.deleted == [] and busy in fake.entries


def test_at_most_one_sweep_per_interval(reclaimer, fake, clock):
    sweep(reclaimer, DIR)
    assert fake.lists == 1
    fake.add(part(), MAX_AGE + 1)
    clock.now += INTERVAL - 1
    sweep(reclaimer, DIR)
    sweep(reclaimer, DIR)
    assert fake.lists == 1 and fake.deleted == []
    clock.now += 1
    sweep(reclaimer, DIR)      # wakes the waiting worker: now due
    assert fake.lists == 2 and fake.deleted == [part()]


def test_each_directory_has_its_own_interval(reclaimer, fake):
    other = paths.DatastoreFile('dc1', 'ds2', 'openstack_glance')
    fake.add(part(), MAX_AGE + 1, dsdir=other)
    sweep(reclaimer, DIR)
    sweep(reclaimer, DIR, other)
    assert fake.lists == 2 and fake.deleted == [part()]


def test_a_young_partial_brings_the_sweep_back_when_it_can_expire(
        fake, monkeypatch):
    # Real time, small numbers: no request after the first one.
    monkeypatch.setattr(partials, '_FOLLOW_UP_SLACK', 0.2)
    fake.now = None
    started = time.monotonic()

    def server_time():
        return NOW + datetime.timedelta(seconds=time.monotonic() - started)

    fake.server_time = server_time
    r = partials.Reclaimer(fake, max_age=2, interval=1)
    fake.entries[DIR.child(part())] = files.DirectoryEntry(
        part(), 5, NOW - datetime.timedelta(seconds=1))
    r.request([DIR])
    deadline = time.monotonic() + 10
    while fake.deleted == [] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.deleted == [part()]
    assert fake.lists == 2
    # Abandoned at NOW - 1 s: reclaimed after max_age (+ slack), not before.
    assert 1.0 <= time.monotonic() - started < 3.0
    assert r.wait_idle(5)
    deadline = time.monotonic() + 5
    while r._worker is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r._worker is None   # nothing left: the thread has ended


def test_a_failed_sweep_is_logged_once_and_retried_after_the_interval(
        reclaimer, fake, clock, caplog):
    caplog.set_level(logging.DEBUG, logger=partials.__name__)
    fake.add(part(), MAX_AGE + 1)
    fake.list_error = errors.Unreachable('cannot connect to vCenter')
    sweep(reclaimer, DIR)
    clock.now += INTERVAL
    sweep(reclaimer)            # the worker comes back by itself
    assert fake.lists == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'cannot connect to vCenter' in warnings[0].getMessage()
    fake.list_error = None
    clock.now += INTERVAL
    sweep(reclaimer)
    assert fake.deleted == [part()]
    assert 'works again' in caplog.text


def test_a_failed_delete_is_retried(reclaimer, fake, clock):
    fake.add(part(), MAX_AGE + 1)
    fake.delete_errors = [errors.VSphereError('busy')]
    sweep(reclaimer, DIR)
    assert fake.deleted == []
    clock.now += INTERVAL
    sweep(reclaimer)
    assert fake.deleted == [part()]


def test_an_image_sweep_runs_at_once_for_that_image_only(reclaimer, fake):
    sweep(reclaimer, DIR)
    fake.add(part(), MAX_AGE + 1)
    fake.add(part('other'), MAX_AGE + 1)
    fake.add(part(token='b' * 32), 10)
    sweep(reclaimer, DIR, image=(DIR, UUID))
    assert fake.deleted == [part()]
    assert fake.lists == 2


def test_a_missing_image_directory_is_nothing_to_do(reclaimer, fake, caplog):
    fake.list_error = errors.NotFound('no such directory')
    sweep(reclaimer, DIR)
    assert 'WARNING' not in caplog.text


def test_requests_never_raise(fake):
    r = partials.Reclaimer(fake, max_age=MAX_AGE, interval=INTERVAL)
    r._dirs = None   # anything broken inside
    r.request([DIR])


def test_a_bug_in_a_sweep_does_not_stop_later_sweeps(reclaimer, fake,
                                                     clock):
    fake.list_error = TypeError('bug')
    sweep(reclaimer, DIR)
    fake.list_error = None
    fake.add(part(), MAX_AGE + 1)
    clock.now += INTERVAL
    sweep(reclaimer, DIR)
    assert fake.deleted == [part()]


def test_a_forked_child_starts_its_own_worker(reclaimer, fake, clock,
                                              monkeypatch):
    fake.add(part(), 10)
    sweep(reclaimer, DIR)          # the worker now waits for the young file
    assert reclaimer._worker is not None
    monkeypatch.setattr(partials.os, 'getpid', lambda: -1)
    parent_worker = reclaimer._worker
    fake.add(part(token='c' * 32), MAX_AGE + 1)
    reclaimer.request([], image=(DIR, UUID))
    assert reclaimer._worker is not parent_worker
    assert reclaimer.wait_idle(10)
    assert fake.deleted == [part(token='c' * 32)]


def test_uuid4_hex_is_what_the_pattern_expects():
    assert partials.image_of('.x.%s.part' % uuid.uuid4().hex) == 'x'


def test_a_file_dated_in_the_future_does_not_delay_the_next_sweep(
        reclaimer, fake, clock):
    fake.add(part(token='f' * 32), -10 * MAX_AGE)
    sweep(reclaimer, DIR)
    assert reclaimer._dirs[DIR].next_at <= clock.now + MAX_AGE + 10


def test_a_forked_child_has_a_fresh_lock_and_no_uploads(fake):
    import os
    r = partials.Reclaimer(fake, max_age=MAX_AGE, interval=INTERVAL)
    temp = DIR.child(part())
    read, write = os.pipe()
    with partials.uploading(temp):
        r._cond.acquire()        # as if a sweeper held it at the fork
        try:
            pid = os.fork()
            if pid == 0:         # the child
                ok = (r._cond.acquire(timeout=2)
                      and not partials.is_uploading(temp)
                      and r._worker is None)
                os.write(write, b'1' if ok else b'0')
                os._exit(0)
        finally:
            r._cond.release()
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b'1'
    os.close(read)
