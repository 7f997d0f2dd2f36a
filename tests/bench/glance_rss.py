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

"""Memory of glance-api's workers over upload/download/delete cycles.

    python -m tests.bench.glance_rss [--store vsphere|file] [--cycles 400]
        [--every 50] [--probe] [--tracemalloc] [--trim] [--env K=V ...]

The reliability soak's traffic (4 clients, images of the soak's size)
through the same glance-api (uwsgi, 4 workers x 8 threads, the options of
``etc/glance-api.conf`` at their defaults), with our ``vsphere`` store
against the simulator or, as a control, Glance's own ``file`` store.
Every ``--every`` cycles the clients pause and the workers' RSS (summed) is
printed.  ``--probe`` loads ``tests.bench.worker_probe`` into the workers
and prints, per sample, what malloc has handed out and keeps free, the
live Python objects and (``--tracemalloc``) the Python heap; ``--trim``
also calls ``malloc_trim(0)`` in every worker at each sample and prints
the RSS after it.  ``--env`` sets environment variables of glance-api
(e.g. ``MALLOC_ARENA_MAX=2``).  Run it in the reliability tox env:
``.tox/reliability/bin/python -m tests.bench.glance_rss``.
"""

import argparse
import json
import os
import shutil
import tempfile
import time

from tests.glance_functional import glance_api
from tests.reliability import glance_http
from tests.reliability import soak
from tests.vcsim import build
from tests.vcsim import harness


class _API(glance_api.GlanceAPI):
    store = 'vsphere'
    probe = False

    def render_config(self, sim, *args, **kw):
        text = super().render_config(sim, *args, **kw)
        if self.store == 'file':
            text = glance_api.edit_ini(text, {'glance_store': {
                'stores': 'file', 'default_store': 'file',
                'filesystem_store_datadir': self._path('images')}})
            with open(self.conf_file, 'w') as f:
                f.write(text)
        return text

    def _uwsgi_ini(self):
        ini = super()._uwsgi_ini()
        if self.probe:
            ini += 'import = tests.bench.worker_probe\n'
        return ini


def _probe(api, probe_dir, request, timeout=60):
    pids = api.worker_pids()
    for pid in pids:
        with open(os.path.join(probe_dir, '%d.req' % pid), 'w') as f:
            f.write(request)
    reports = {}
    deadline = time.monotonic() + timeout
    while len(reports) < len(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
        for pid in pids:
            path = os.path.join(probe_dir, '%d.json' % pid)
            if pid not in reports and os.path.exists(path):
                with open(path) as f:
                    reports[pid] = json.load(f)
                os.unlink(path)
    return reports


def _sum(reports, key, sub=None):
    return sum((r.get(sub, {}) if sub else r).get(key, 0)
               for r in reports.values())


def _sample(api, args, probe_dir, cycle, at):
    totals = soak.totals(api)
    line = '%6d %7.0f %8.1f %7d %5d' % (cycle, at, totals['rss_mib'],
                                        totals['threads'], totals['fds'])
    if not args.probe:
        print(line, flush=True)
        return
    reports = _probe(api, probe_dir, 'trim' if args.trim else 'stats')
    line += ' %9.1f %9.1f %8.1f %9d' % (
        _sum(reports, 'anon_mib'), _sum(reports, 'malloc_used_mib'),
        _sum(reports, 'malloc_free_mib'), _sum(reports, 'objects'))
    if args.tracemalloc:
        line += ' %8.1f' % _sum(reports, 'traced_mib')
    if args.trim:
        line += ' %9.1f' % _sum(reports, 'rss_mib', 'after_trim')
    print(line, flush=True)
    if args.verbose:
        first = reports[min(reports)]
        for key in ('objects_grown', 'traced_grown', 'error'):
            if key in first:
                print('    %s (worker %d): %s' % (key, first['pid'],
                                                  first[key]), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--store', choices=('vsphere', 'file'),
                        default='vsphere')
    parser.add_argument('--cycles', type=int, default=400)
    parser.add_argument('--every', type=int, default=50)
    parser.add_argument('--warmup', type=int, default=soak.WARMUP)
    parser.add_argument('--size-kib', type=int,
                        default=len(soak.DATA) // 1024)
    parser.add_argument('--probe', action='store_true')
    parser.add_argument('--tracemalloc', action='store_true')
    parser.add_argument('--trim', action='store_true')
    parser.add_argument('--verbose', '-v', action='store_true')
    parser.add_argument('--env', action='append', default=[],
                        metavar='KEY=VALUE')
    parser.add_argument('--store-option', action='append', default=[],
                        metavar='NAME=VALUE',
                        help='a vmware_* option of the store')
    args = parser.parse_args()
    args.probe = args.probe or args.tracemalloc or args.trim

    scratch = tempfile.mkdtemp(prefix='gsv-rss-')
    probe_dir = os.path.join(scratch, 'probe')
    os.makedirs(probe_dir)
    for item in args.env:
        key, _, value = item.partition('=')
        os.environ[key] = value
    os.environ['GSV_PROBE_DIR'] = probe_dir
    if args.tracemalloc:
        os.environ['GSV_PROBE_TRACEMALLOC'] = '1'
    data = soak.payload(args.size_kib * 1024)

    ca = harness.TestCA(os.path.join(scratch, 'ca'))
    sim = harness.Simulator(build.build(), ca, tmp_root=scratch)
    sim.start()
    api = _API(os.path.join(scratch, 'glance-api'), processes=4,
               documented_defaults=True)
    api.store = args.store
    api.probe = args.probe
    try:
        api.start(sim, datastores=['LocalDS_0'], **dict(
            item.partition('=')[::2] for item in args.store_option))
        http = glance_http.Client(api)
        print('store %s, %d KiB images, %d clients, 4 workers x %d threads,'
              ' env %s, options %s' % (
                  args.store, len(data) // 1024, soak.CLIENTS, api.threads,
                  ' '.join(args.env) or '-',
                  ' '.join(args.store_option) or '-'))
        failures = []
        soak.run(http, args.warmup, failures, data=data)
        header = '%6s %7s %8s %7s %5s' % ('cycle', 'time s', 'RSS MiB',
                                          'threads', 'FDs')
        if args.probe:
            header += ' %9s %9s %8s %9s' % ('anon MiB', 'malloc', 'free',
                                            'objects')
        if args.tracemalloc:
            header += ' %8s' % 'traced'
        if args.trim:
            header += ' %9s' % 'RSS trim'
        print(header)
        started = time.monotonic()
        soak.run(http, args.cycles, failures, data=data, every=args.every,
                 at_rest=lambda n: _sample(api, args, probe_dir, n,
                                           time.monotonic() - started))
        print('failed requests: %d %s' % (len(failures), failures[:3]))
    finally:
        api.stop()
        sim.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == '__main__':
    main()
