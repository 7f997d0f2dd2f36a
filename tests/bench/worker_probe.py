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

"""Memory figures from inside a glance-api worker, on request.

Imported by the uwsgi workers (an extra ``import`` line) when
``tests.bench.glance_rss`` runs with ``--probe``.  A thread of each worker
watches ``$GSV_PROBE_DIR`` for ``<pid>.req`` and answers with
``<pid>.json``: RSS and smaps_rollup, glibc's malloc statistics
(``mallinfo2``: bytes malloc has handed out and bytes it keeps free), the
live Python objects by type and, with ``GSV_PROBE_TRACEMALLOC=1``, the
Python heap and its growth by line since the previous request.  A request
that contains ``trim`` then calls ``malloc_trim(0)`` and reports RSS
again: what that gives back was free memory malloc kept, not live data.
"""

import collections
import ctypes
import gc
import json
import os
import threading
import time
import tracemalloc

_DIR = os.environ.get('GSV_PROBE_DIR')
_libc = ctypes.CDLL('libc.so.6')


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
        'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


_libc.mallinfo2.restype = _MallInfo2
_state = {'types': None, 'snapshot': None, 'pid': None}


def _kib_fields(path):
    found = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == 'kB':
                found[parts[0].rstrip(':')] = int(parts[1])
    return found


def _memory():
    rollup = _kib_fields('/proc/self/smaps_rollup')
    info = _libc.mallinfo2()
    mib = 1024.0 * 1024.0
    return {
        'rss_mib': rollup['Rss'] / 1024.0,
        'anon_mib': rollup['Anonymous'] / 1024.0,
        # Handed out by malloc (sbrk arenas + mmapped blocks), and kept
        # free inside its arenas.
        'malloc_used_mib': (info.uordblks + info.hblkhd) / mib,
        'malloc_free_mib': info.fordblks / mib,
        'malloc_arena_mib': info.arena / mib,
        'malloc_mmap_mib': info.hblkhd / mib,
    }


def _answer(request):
    gc.collect()
    report = {'pid': os.getpid(), 'threads': threading.active_count()}
    report.update(_memory())
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    report['objects'] = sum(counts.values())
    previous = _state['types']
    if previous is not None:
        grown = {name: n - previous.get(name, 0)
                 for name, n in counts.items()}
        report['objects_grown'] = sorted(
            ((n, name) for name, n in grown.items() if n), reverse=True)[:12]
    _state['types'] = counts
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        report['traced_mib'] = tracemalloc.get_traced_memory()[0] / 2**20
        if _state['snapshot'] is not None:
            stats = snapshot.compare_to(_state['snapshot'], 'lineno')
            report['traced_grown'] = [
                '%+.1f KiB %+d: %s' % (s.size_diff / 1024.0, s.count_diff,
                                       s.traceback[0])
                for s in stats[:10]]
        _state['snapshot'] = snapshot
    if 'trim' in request:
        _libc.malloc_trim(0)
        after = _memory()
        report['after_trim'] = {k: after[k] for k in
                                ('rss_mib', 'malloc_used_mib',
                                 'malloc_free_mib')}
    return report


def _watch():
    req = os.path.join(_DIR, '%d.req' % os.getpid())
    out = os.path.join(_DIR, '%d.json' % os.getpid())
    while True:
        time.sleep(0.2)
        try:
            with open(req) as f:
                request = f.read()
        except OSError:
            continue
        os.unlink(req)
        try:
            report = _answer(request)
        except Exception as e:  # the bench shows it
            report = {'pid': os.getpid(), 'error': repr(e)}
        with open(out + '.tmp', 'w') as f:
            json.dump(report, f)
        os.rename(out + '.tmp', out)


def _start():
    if _DIR and _state['pid'] != os.getpid():
        _state['pid'] = os.getpid()
        threading.Thread(target=_watch, daemon=True,
                         name='gsv-probe').start()


if os.environ.get('GSV_PROBE_TRACEMALLOC') == '1':
    tracemalloc.start(1)
os.register_at_fork(after_in_child=_start)
_start()
