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

"""How long the command takes to answer usage, against loading the stack.

    python -m tests.bench.cli_startup [--runs 10]

Each row is the median wall time of ``--runs`` fresh processes of the
installed ``glance-store-vmware``.  The reference row is what ``--help``
used to cost: importing the commands' modules (oslo.vmware, suds,
eventlet, keystoneauth) before parsing.  Goal: usage under 0.3 s.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMAND = os.path.join(os.path.dirname(sys.executable), 'glance-store-vmware')

ROWS = [
    ('--help', [COMMAND, '--help']),
    ('check --help', [COMMAND, 'check', '--help']),
    ('argument error', [COMMAND, 'orphans', '--older-than', 'soon']),
    ('no --config-file', [COMMAND, 'locations']),
    ('reference: import the commands', [
        sys.executable, '-c',
        'import glance_store_vmware.cli.check, '
        'glance_store_vmware.cli.orphans, glance_store_vmware.cli.locations']),
]


def median_seconds(argv, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=10)
    args = parser.parse_args()
    results = [(name, median_seconds(argv, args.runs)) for name, argv in ROWS]
    reference = results[-1][1]
    print('%-32s %10s %14s' % ('what', 'median s', 'x reference'))
    for name, seconds in results:
        print('%-32s %10.3f %14.2f' % (name, seconds, seconds / reference))


if __name__ == '__main__':
    main()
