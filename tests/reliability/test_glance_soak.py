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

"""Upload/download/delete cycles through one glance-api with 4 workers:
threads, memory, file descriptors and TCP connections of its workers must
level off.

Quick mode: QUICK_CYCLES; ``--full`` or GSV_RELIABILITY_FULL=1:
FULL_CYCLES.  Figures are sampled SAMPLES times; the plateau check compares
the last third of the samples with the first third (after WARMUP cycles).
Samples are taken with the clients paused for REST seconds.
"""

import threading
import time

import pytest

from tests import helpers
from tests.reliability import conftest
from tests.reliability import glance_http
from tests.reliability.conftest import figure

QUICK_CYCLES = 150
FULL_CYCLES = 1000
WARMUP = 20
CLIENTS = 4
SAMPLES = 12
REST = 1.0    # seconds at rest before a sample
DATA = helpers.payload(512 * 1024, b'soak')
# Allowed growth of the last third's maximum over the first third's (sums
# over the workers).
MARGIN = {'threads': 8, 'fds': 16, 'tcp': 8}
RSS_MARGIN = (0.015, 8.0)  # 1.5 % plus 8 MiB


def _cycle(http, failures):
    image_id = http.create()
    up = http.upload(image_id, DATA, 60)
    if not up.ok:
        failures.append(str(up))
    else:
        down = http.download(image_id, 60)
        if not down.ok or down.data != DATA:
            failures.append(str(down))
    r = http.delete(image_id, 60)
    if not r.ok:
        failures.append(str(r))


class _Pause:
    """Lets the sampler stop the clients between cycles, so that figures
    are taken at rest: what a worker keeps, not what a request in flight
    uses."""

    def __init__(self):
        self.cond = threading.Condition()
        self.paused = False
        self.busy = 0

    def enter(self):
        with self.cond:
            self.cond.wait_for(lambda: not self.paused)
            self.busy += 1

    def leave(self):
        with self.cond:
            self.busy -= 1
            self.cond.notify_all()

    def hold(self, timeout=120):
        with self.cond:
            self.paused = True
            return self.cond.wait_for(lambda: self.busy == 0, timeout)

    def go(self):
        with self.cond:
            self.paused = False
            self.cond.notify_all()


def _run(http, cycles, failures, counter, pause=None):
    lock = threading.Lock()

    def client():
        while True:
            if pause:
                pause.enter()
            try:
                with lock:
                    if counter[0] >= cycles:
                        return
                    counter[0] += 1
                _cycle(http, failures)
            finally:
                if pause:
                    pause.leave()

    threads = [threading.Thread(target=client, daemon=True)
               for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    return threads


def _totals(api):
    figures = glance_http.worker_figures(api)
    total = {k: sum(f[k] for f in figures.values())
             for k in ('threads', 'rss_mib', 'fds', 'tcp')}
    total['workers'] = len(figures)
    total['per_worker_threads'] = sorted(f['threads']
                                         for f in figures.values())
    return total


@pytest.mark.timeout(3600)
def test_soak(healthy_stack, request):
    stack = healthy_stack
    http = stack.http
    cycles = FULL_CYCLES if conftest.full_mode(request.config) \
        else QUICK_CYCLES
    failures = []
    counter = [0]
    for t in _run(http, WARMUP, failures, counter):
        t.join()
    counter[0] = 0
    time.sleep(REST)
    started = time.monotonic()
    samples = [(0, 0.0, _totals(stack.api))]
    pause = _Pause()
    threads = _run(http, cycles, failures, counter, pause)
    step = max(1, cycles // SAMPLES)
    next_at = step
    while any(t.is_alive() for t in threads):
        time.sleep(0.05)
        if counter[0] >= next_at and next_at < cycles:
            assert pause.hold(), 'clients did not pause'
            time.sleep(REST)
            samples.append((counter[0], time.monotonic() - started,
                            _totals(stack.api)))
            pause.go()
            next_at += step
    time.sleep(REST)
    samples.append((counter[0], time.monotonic() - started,
                    _totals(stack.api)))
    seconds = time.monotonic() - started

    figure('--- soak: %d upload/download/delete cycles of %d KiB, %d '
           'clients, %d workers, %.0f s (%.1f cycles/s) ---' % (
               cycles, len(DATA) // 1024, CLIENTS, stack.api.processes,
               seconds, cycles / seconds))
    figure('%7s %7s %8s %9s %6s %5s  %s' % ('cycle', 'time s', 'threads',
                                           'RSS MiB', 'FDs', 'TCP',
                                           'threads per worker'))
    for cycle, at, t in samples:
        figure('%7d %7.1f %8d %9.1f %6d %5d  %s' % (
            cycle, at, t['threads'], t['rss_mib'], t['fds'], t['tcp'],
            t['per_worker_threads']))
    third = max(1, len(samples) // 3)
    first, last = samples[:third], samples[-third:]
    problems = []
    for key, margin in MARGIN.items():
        a = max(s[2][key] for s in first)
        b = max(s[2][key] for s in last)
        figure('%s: first third max %d, last third max %d (allowed +%d)'
               % (key, a, b, margin))
        if b > a + margin:
            problems.append('%s grew from %d to %d' % (key, a, b))
    a = max(s[2]['rss_mib'] for s in first)
    b = max(s[2]['rss_mib'] for s in last)
    allowed = a * (1 + RSS_MARGIN[0]) + RSS_MARGIN[1]
    figure('RSS: first third max %.1f MiB, last third max %.1f MiB '
           '(allowed %.1f)' % (a, b, allowed))
    if b > allowed:
        problems.append('RSS grew from %.1f to %.1f MiB' % (a, b))
    worker_sets = {s[2]['workers'] for s in samples}
    if worker_sets != {stack.api.processes}:
        problems.append('worker count changed: %s' % worker_sets)
    figure('failed requests: %d %s' % (len(failures), failures[:3]))
    if failures:
        problems.append('%d requests failed' % len(failures))
    assert not problems, '\n'.join(problems)
