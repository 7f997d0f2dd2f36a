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
FULL_CYCLES, after soak.WARMUP cycles that are not measured.  Figures are
sampled SAMPLES times with the clients paused (``soak.run``).

Threads, FDs and connections: the maximum over the last third of the
samples may exceed the first third's by MARGIN.  RSS (summed over the
workers): a plateau.  glibc's malloc keeps memory that requests freed in
its per-thread arenas and fills them up over the first hundred or so
cycles (doc/source/design.rst), so RSS rises at first whatever the code;
what must not happen is growth that goes on.  The growth over the second
half of the run may be at most RSS_SLACK MiB plus RSS_RATE MiB per cycle
of that half; a leak of the size issue 8 found (0.1 MiB per cycle) fails
it in both modes.
"""

import pytest

from tests.reliability import conftest
from tests.reliability import soak
from tests.reliability.conftest import figure

QUICK_CYCLES = 150
FULL_CYCLES = 1000
SAMPLES = 12
MARGIN = {'threads': 8, 'fds': 16, 'tcp': 8}
RSS_SLACK = 3.0    # MiB, for the noise between two samples
RSS_RATE = 0.03    # MiB per cycle, all workers together


def rss_plateau(samples):
    """``(growth, allowed)`` of RSS over the second half of ``samples``,
    a list of ``(cycle, rss_mib)``: from the highest value at or before
    the middle cycle to the highest after it."""
    middle = samples[-1][0] / 2.0
    before = [rss for cycle, rss in samples if cycle <= middle]
    after = [rss for cycle, rss in samples if cycle > middle]
    growth = max(after) - max(before)
    late_cycles = samples[-1][0] - middle
    return growth, RSS_SLACK + RSS_RATE * late_cycles


@pytest.mark.timeout(3600)
def test_soak(healthy_stack, request):
    stack = healthy_stack
    http = stack.http
    cycles = FULL_CYCLES if conftest.full_mode(request.config) \
        else QUICK_CYCLES
    failures = []
    soak.run(http, soak.WARMUP, failures)
    samples = []
    soak.run(http, cycles, failures, every=max(1, cycles // SAMPLES),
             at_rest=lambda done: samples.append((done,
                                                  soak.totals(stack.api))))

    figure('--- soak: %d upload/download/delete cycles of %d KiB after %d '
           'unmeasured, %d clients, %d workers ---' % (
               cycles, len(soak.DATA) // 1024, soak.WARMUP, soak.CLIENTS,
               stack.api.processes))
    figure('%7s %8s %9s %6s %5s  %s' % ('cycle', 'threads', 'RSS MiB',
                                       'FDs', 'TCP', 'threads per worker'))
    for cycle, t in samples:
        figure('%7d %8d %9.1f %6d %5d  %s' % (
            cycle, t['threads'], t['rss_mib'], t['fds'], t['tcp'],
            t['per_worker_threads']))
    third = max(1, len(samples) // 3)
    first, last = samples[:third], samples[-third:]
    problems = []
    for key, margin in MARGIN.items():
        a = max(s[1][key] for s in first)
        b = max(s[1][key] for s in last)
        figure('%s: first third max %d, last third max %d (allowed +%d)'
               % (key, a, b, margin))
        if b > a + margin:
            problems.append('%s grew from %d to %d' % (key, a, b))
    growth, allowed = rss_plateau([(c, t['rss_mib']) for c, t in samples])
    figure('RSS: %.1f -> %.1f MiB; growth over the second half %+.1f MiB '
           '(allowed %.1f)' % (samples[0][1]['rss_mib'],
                               samples[-1][1]['rss_mib'], growth, allowed))
    if growth > allowed:
        problems.append('RSS still growing: %+.1f MiB over the last %d '
                        'cycles' % (growth, cycles - cycles // 2))
    worker_sets = {s[1]['workers'] for s in samples}
    if worker_sets != {stack.api.processes}:
        problems.append('worker count changed: %s' % worker_sets)
    figure('failed requests: %d %s' % (len(failures), failures[:3]))
    if failures:
        problems.append('%d requests failed' % len(failures))
    assert not problems, '\n'.join(problems)
