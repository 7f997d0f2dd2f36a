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

"""Soak traffic: clients that upload, download and delete images through
one glance-api, paused now and then so that its workers can be measured
at rest (what a worker keeps, not what a request in flight uses).

Used by the soak test and by ``tests.bench.glance_rss``.
"""

import threading
import time

from tests import helpers
from tests.reliability import glance_http

CLIENTS = 4
# Unmeasured cycles first: glibc's malloc keeps what the first ~100 cycles
# freed in its per-thread arenas (doc/source/design.rst).
WARMUP = 100
REST = 1.0    # seconds at rest before a sample
DATA = helpers.payload(512 * 1024, b'soak')
payload = helpers.payload


def cycle(http, failures, data=DATA):
    """Create, upload, download (compared) and delete one image."""
    image_id = http.create()
    up = http.upload(image_id, data, 60)
    if not up.ok:
        failures.append(str(up))
    else:
        down = http.download(image_id, 60)
        if not down.ok or down.data != data:
            failures.append(str(down))
    r = http.delete(image_id, 60)
    if not r.ok:
        failures.append(str(r))


class _Pause:
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


def run(http, cycles, failures, *, data=DATA, every=None, at_rest=None):
    """``cycles`` cycles from CLIENTS clients; failed requests are added
    to ``failures``.  With ``at_rest``, ``at_rest(done)`` is called with
    the clients paused for REST seconds before the first cycle, after
    every ``every`` cycles and after the last."""
    lock = threading.Lock()
    pause = _Pause()
    done = [0]

    def client():
        while True:
            pause.enter()
            try:
                with lock:
                    if done[0] >= cycles:
                        return
                    done[0] += 1
                cycle(http, failures, data)
            finally:
                pause.leave()

    def sample():
        time.sleep(REST)
        at_rest(done[0])

    if at_rest:
        sample()
    threads = [threading.Thread(target=client, daemon=True)
               for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    next_at = every or cycles
    while any(t.is_alive() for t in threads):
        time.sleep(0.05)
        if at_rest and done[0] >= next_at and next_at < cycles:
            if not pause.hold():
                raise AssertionError('soak clients did not pause')
            sample()
            pause.go()
            next_at += every
    if at_rest:
        sample()


def totals(api):
    """Threads, RSS, FDs and TCP connections summed over the workers."""
    figures = glance_http.worker_figures(api)
    total = {k: sum(f[k] for f in figures.values())
             for k in ('threads', 'rss_mib', 'fds', 'tcp')}
    total['workers'] = len(figures)
    total['per_worker_threads'] = sorted(f['threads']
                                         for f in figures.values())
    return total
