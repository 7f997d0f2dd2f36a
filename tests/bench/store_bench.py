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

"""Our ``vsphere`` store against glance_store's in-tree ``vmware`` driver.

    python -m tests.bench.store_bench [--sizes 64,256,1024] [--runs 3]

One simulator on 127.0.0.1:443 (the only port the in-tree driver can use)
serves both drivers, which store on the same datastore in separate image
directories.  For every size, run and driver (the driver order alternates
per run) an image is added (multihash sha512, Glance's default) and read
back in full.  Every add and every get runs in a fresh child process, so
that its CPU time and peak RSS are its own; the store is configured before
the clock starts.  Once per size and driver, an untimed extra get checks
that the data read back has the checksums add returned.

The image source never holds the image: it serves ``read(n)`` from one
random MiB, rotated differently for every MiB of the image.

The parent stays small on purpose: a child's ``ru_maxrss`` starts at the
peak RSS of the process that spawned it (the kernel carries it over
exec), so glance_store and oslo.vmware are imported in the children only.
Each child spends a few seconds configuring its store (mostly parsing the
vim WSDL), outside the measurement: the default run takes several minutes.
"""

import argparse
import concurrent.futures
import errno
import multiprocessing
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
import traceback
import uuid

MiB = 1024 * 1024
PORT = 443
HASHING_ALGO = 'sha512'
DRIVERS = ('ours', 'in-tree')
STORES = {'ours': 'vsphere', 'in-tree': 'vmware'}
IMAGE_DIRS = {'ours': '/bench_ours', 'in-tree': '/bench_intree'}
DATASTORE = 'LocalDS_0'
TARGETS = {'add': 1.5, 'get': 1.0}
RSS_TARGET_SIZE_MIB = 1024
RSS_TARGET_MIB = 64


class BenchError(RuntimeError):
    pass


# Child side ---------------------------------------------------------------

class RandomSource:
    """``size`` bytes of image data from one preallocated random MiB.

    MiB number k of the image is the buffer rotated by ``k * 4099`` bytes,
    so chunks differ while costing only a slice each.  A read never
    crosses a MiB boundary (callers accept short reads).
    """

    STRIDE = 4099

    def __init__(self, size):
        block = os.urandom(MiB)
        self._double = block + block
        self._size = size
        self._pos = 0

    def read(self, n=-1):
        remaining = self._size - self._pos
        if remaining <= 0:
            return b''
        k, offset = divmod(self._pos, MiB)
        n = min(remaining, MiB - offset, n if n and n > 0 else MiB)
        start = (k * self.STRIDE) % MiB + offset
        self._pos += n
        return self._double[start:start + n]


def _vm_rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise BenchError('no VmRSS in /proc/self/status')


def _reset_peak_rss():
    # Linux: "5" resets the peak RSS to the current RSS, so that what the
    # store configuration allocated and freed does not count as peak.
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass


def _cpu_seconds():
    times = os.times()
    return times.user + times.system


def _configure(driver, sim):
    import glance_store
    from glance_store import backend
    from glance_store import location
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    glance_store.register_opts(conf)
    conf(args=[], default_config_files=[])
    options = {
        'stores': [STORES[driver]],
        'default_store': 'vsphere',  # the scheme; both drivers use it
        'vmware_server_host': sim['host'],
        'vmware_server_username': sim['username'],
        'vmware_server_password': sim['password'],
        'vmware_ca_file': sim['ca_file'],
        'vmware_insecure': False,
        'vmware_datastores': ['%s:%s:100' % (sim['datacenter'], DATASTORE)],
        'vmware_store_image_dir': IMAGE_DIRS[driver],
        'vmware_task_poll_interval': 1,
    }
    if driver == 'ours':
        options['vmware_server_port'] = sim['port']
    for name, value in options.items():
        conf.set_override(name, value, group='glance_store')
    glance_store.create_stores(conf)
    store = backend.get_store_from_scheme('vsphere')

    def location_of(uri):
        return location.get_location_from_uri(uri, conf=conf)

    return store, location_of


def _read_back(store, loc):
    import hashlib
    md5, multihash = hashlib.md5(), hashlib.new(HASHING_ALGO)
    chunks, size = store.get(loc)
    for chunk in chunks:
        md5.update(chunk)
        multihash.update(chunk)
    return {'size': size, 'checksum': md5.hexdigest(),
            'multihash': multihash.hexdigest()}


def _run_in_child(task):
    """One operation on one driver, in this (fresh) process."""
    import logging
    import resource
    import warnings

    warnings.simplefilter('ignore')
    logging.basicConfig(level=logging.ERROR)
    # Drivers of other glance_store backends that are not installed.
    logging.getLogger('stevedore').setLevel(logging.CRITICAL)
    from tests.vcsim import wsdl_cache
    wsdl_cache.install()

    driver, op, sim = task['driver'], task['op'], task['sim']
    if driver == 'in-tree':
        # It sets only requests.Session.verify = vmware_ca_file for image
        # data, which these variables override; point them at the test CA.
        os.environ['REQUESTS_CA_BUNDLE'] = sim['ca_file']
        os.environ['CURL_CA_BUNDLE'] = sim['ca_file']
    store, location_of = _configure(driver, sim)

    if op == 'cleanup':
        try:
            if task.get('verify'):
                return _read_back(store, location_of(task['verify']))
            return {}
        finally:
            for uri in task['uris']:
                store.delete(location_of(uri))

    if op == 'add':
        source = RandomSource(task['size'])
    else:
        loc = location_of(task['uri'])
    _reset_peak_rss()
    rss_before = _vm_rss()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if op == 'add':
        uri, size, checksum, multihash, _meta = store.add(
            task['image_id'], source, task['size'], HASHING_ALGO)
        result = {'uri': uri, 'checksum': checksum, 'multihash': multihash}
    else:
        chunks, size = store.get(loc)
        received = 0
        for chunk in chunks:
            received += len(chunk)
        if received != size:
            raise BenchError('get returned %d of %d bytes' % (received, size))
        result = {}
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if size != task['size']:
        raise BenchError('%s %s: %d bytes instead of %d'
                         % (driver, op, size, task['size']))
    result.update(wall=wall, cpu=cpu, rss_growth=max(0, peak - rss_before))
    return result


def child_main(task):
    """Entry point of the child; errors come back as text (glance_store
    exceptions do not all survive pickling)."""
    try:
        return _run_in_child(task)
    except BaseException:
        return {'error': traceback.format_exc()}


# Parent side --------------------------------------------------------------

def in_child(**task):
    # Write back what the previous measurement left in the page cache, so
    # that its writeback does not slow this one down.
    os.sync()
    spawn = multiprocessing.get_context('spawn')
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as ex:
        result = ex.submit(child_main, task).result()
    if 'error' in result:
        raise BenchError('%s %s failed in the child:\n%s'
                         % (task['driver'], task['op'], result['error']))
    return result


def port_busy(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As Go's listener does, so TIME_WAIT leftovers do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('127.0.0.1', port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return '127.0.0.1:%d: %s' % (port, e.strerror)
            raise
    return None


def bench_size(sim, size_mib, runs, log):
    """``{(op, driver): [measurement, ...]}`` for one image size."""
    size = size_mib * MiB
    results = {}
    added = {driver: [] for driver in DRIVERS}
    for run in range(runs):
        order = DRIVERS if run % 2 == 0 else DRIVERS[::-1]
        for driver in order:
            try:
                add = in_child(driver=driver, op='add', sim=sim, size=size,
                               image_id=str(uuid.uuid4()))
                added[driver].append(add)
                get = in_child(driver=driver, op='get', sim=sim, size=size,
                               uri=add['uri'])
            except BaseException:
                try:
                    cleanup(sim, added)
                except Exception as e:
                    log('cleanup after the error failed too: %s' % e)
                raise
            for op, m in (('add', add), ('get', get)):
                results.setdefault((op, driver), []).append(m)
                log('  %4d MiB run %d %-7s %s %7.1f MiB/s  cpu %5.2f s  '
                    'rss +%4.0f MiB' % (size_mib, run + 1, driver, op,
                                        size_mib / m['wall'], m['cpu'],
                                        m['rss_growth'] / MiB))
    cleanup(sim, added, verify_size=size)
    return results


def cleanup(sim, added, verify_size=None):
    """Delete the images; first, if ``verify_size``, check that the first
    image of each driver reads back with the checksums add returned."""
    for driver, adds in added.items():
        if not adds:
            continue
        first = adds[0]
        got = in_child(driver=driver, op='cleanup', sim=sim,
                       uris=[a['uri'] for a in adds],
                       verify=first['uri'] if verify_size else None)
        if verify_size is None:
            continue
        expected = (verify_size, first['checksum'], first['multihash'])
        if (got['size'], got['checksum'], got['multihash']) != expected:
            raise BenchError('%s: read back size %d md5 %s, but add '
                             'returned %d md5 %s' % (
                                 driver, got['size'], got['checksum'],
                                 verify_size, first['checksum']))


def summarize(all_results, sizes):
    """Print the table and the targets."""
    print()
    print('%8s %4s | %12s %12s %6s | %13s | %15s'
          % ('size', 'op', 'ours MiB/s', 'in-tree', 'ratio',
             'CPU s ours/it', 'RSS+ MiB ours/it'))
    print('-' * 86)
    ratios = {}
    rss = {}
    for size_mib in sizes:
        results = all_results[size_mib]
        for op in ('add', 'get'):
            rate, cpu, growth = {}, {}, {}
            for driver in DRIVERS:
                ms = results[(op, driver)]
                rate[driver] = statistics.median(size_mib / m['wall']
                                                 for m in ms)
                cpu[driver] = statistics.median(m['cpu'] for m in ms)
                growth[driver] = max(m['rss_growth'] for m in ms) / MiB
            ratio = rate['ours'] / rate['in-tree']
            ratios[(size_mib, op)] = ratio
            rss[size_mib] = max(rss.get(size_mib, 0), growth['ours'])
            print('%4d MiB %4s | %12.1f %12.1f %6.2f | %6.2f/%6.2f | '
                  '%7.1f/%7.1f' % (size_mib, op, rate['ours'],
                                   rate['in-tree'], ratio, cpu['ours'],
                                   cpu['in-tree'], growth['ours'],
                                   growth['in-tree']))
    print('MiB/s and CPU s (user+sys of the child during the call) are '
          'medians over the runs;\nRSS+ is the largest peak RSS growth '
          'during the call.')
    print()
    print('Targets')
    for (size_mib, op), ratio in sorted(ratios.items()):
        target = TARGETS[op]
        print('  %s ratio >= %.1f at %4d MiB: %5.2f  %s'
              % (op, target, size_mib, ratio,
                 'PASS' if ratio >= target else 'MISS'))
    if RSS_TARGET_SIZE_MIB in rss:
        growth = rss[RSS_TARGET_SIZE_MIB]
        print('  ours peak RSS growth < %d MiB at %d MiB: %.1f MiB  %s'
              % (RSS_TARGET_MIB, RSS_TARGET_SIZE_MIB, growth,
                 'PASS' if growth < RSS_TARGET_MIB else 'MISS'))
    else:
        print('  ours peak RSS growth < %d MiB at %d MiB: not measured '
              '(add %d to --sizes)' % (RSS_TARGET_MIB, RSS_TARGET_SIZE_MIB,
                                       RSS_TARGET_SIZE_MIB))


def print_context(args):
    affinity = len(os.sched_getaffinity(0))
    print('glance_store_vmware benchmark: vsphere (ours) vs glance_store '
          'in-tree vmware driver')
    print('  machine: %s cores (%d usable), load average %s, %s'
          % (os.cpu_count(), affinity,
             ' '.join('%.2f' % x for x in os.getloadavg()),
             platform.platform()))
    print('  python %s; sizes %s MiB; %d run(s); multihash %s'
          % (platform.python_version(), ','.join(map(str, args.sizes)),
             args.runs, HASHING_ALGO))
    print('  one vcsim on 127.0.0.1:%d (same machine, shares its CPUs), '
          'datastore %s; TLS verified against the test CA' % (PORT,
                                                               DATASTORE))
    print('  note: the in-tree driver ignores vmware_ca_file for image data '
          'when REQUESTS_CA_BUNDLE\n  is set (requests lets it override '
          'Session.verify), so its children get REQUESTS_CA_BUNDLE=<test '
          'CA>;\n  ours passes verify= per request and needs only '
          'vmware_ca_file.')


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='64,256,1024',
                        type=lambda s: [int(x) for x in s.split(',') if x],
                        help='image sizes in MiB (default: %(default)s)')
    parser.add_argument('--runs', type=int, default=3,
                        help='runs per size and driver (default: '
                             '%(default)s)')
    args = parser.parse_args(argv)
    if not args.sizes or min(args.sizes) < 1 or args.runs < 1:
        parser.error('sizes and runs must be positive')
    return args


def main(argv=None):
    args = parse_args(argv)
    busy = port_busy(PORT)
    if busy:
        print('store_bench: cannot use %s; the in-tree driver only talks to '
              'port 443 of vmware_server_host. Stop whatever uses it (or '
              'run as a user that may bind it) and try again.' % busy,
              file=sys.stderr)
        return 2

    from tests.vcsim import build
    from tests.vcsim import harness

    print_context(args)
    ca_dir = tempfile.mkdtemp(prefix='gsv-bench-ca-')
    try:
        with harness.Simulator(build.build(), harness.TestCA(ca_dir),
                               port=PORT) as sim:
            info = dict(host=sim.host, port=sim.port, username=sim.username,
                        password=sim.password, ca_file=sim.ca_file,
                        datacenter=sim.datacenter()['name'])
            results = {}
            for size_mib in args.sizes:
                results[size_mib] = bench_size(
                    info, size_mib, args.runs,
                    lambda line: print(line, flush=True))
    except (BenchError, harness.SimulatorError) as e:
        print('store_bench: %s' % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(ca_dir, ignore_errors=True)
    summarize(results, args.sizes)
    return 0


if __name__ == '__main__':
    sys.exit(main())
