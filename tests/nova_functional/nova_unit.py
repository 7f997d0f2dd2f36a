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

"""Nova's own VMware driver unit tests, run against our compute driver.

    python -m tests.nova_functional.nova_unit           # our driver
    python -m tests.nova_functional.nova_unit --stock   # Nova's, to compare

Nova 34 ships ``nova.tests.unit.virt.vmwareapi.test_driver_api`` and
``test_vmops`` (with its fake vCenter, ``fake.py``).  They are imported
while ``nova.virt.vmwareapi.driver`` and ``.vmops`` show
``VSphereImagesVCDriver`` and ``VSphereImagesVMOps`` under Nova's class
names (see ``tests/upstream_unit.py``).  The substitution is this
runner's doing; the driver itself changes nothing of Nova's.

Nova's fake vCenter has no datastore HTTP access, no HTTP cookie, and
none of the inventory calls our handler makes, so the copy attempt and
the cache-entry checks fail there; the driver must then behave exactly as
Nova's (fall back to Nova's path, leave the entry alone), which is what
these tests check.  The default run has no stand-in: the copy attempt
stops at the datacenter path, which fake.py cannot give.

Stand-in, with ``--inventory-path`` only: fake.py does not answer
oslo.vmware's ``get_inventory_path`` (its property collector lacks the
parent traversal), so ``VSphereImagesVMOps._inventory_path`` answers
``/fake-dc``; the copy attempt then goes on into the handler (peer-cache
search, inventory, datastore HTTP) and fails deeper inside, which must not
change any test's outcome either.

Exits non-zero unless every test passes; prints ``<passed>/<run>``.
"""

import argparse
import sys

from tests import upstream_unit

MODULES = ('nova.tests.unit.virt.vmwareapi.test_driver_api',
           'nova.tests.unit.virt.vmwareapi.test_vmops')


def stand_in_inventory_path():
    from glance_store_vmware.nova import driver as ours
    # See the module docstring: fake.py cannot answer get_inventory_path.
    ours.VSphereImagesVMOps._inventory_path = (
        lambda self, dc_ref: '/fake-dc')


def load(stock=False):
    if stock:
        return upstream_unit.load(MODULES, {})
    from nova.virt.vmwareapi import driver as nova_driver
    from nova.virt.vmwareapi import vmops

    from glance_store_vmware.nova import driver as ours
    return upstream_unit.load(MODULES, {
        nova_driver.__name__: upstream_unit.ModuleView(
            nova_driver, {'VMwareVCDriver': ours.VSphereImagesVCDriver}),
        vmops.__name__: upstream_unit.ModuleView(
            vmops, {'VMwareVMOps': ours.VSphereImagesVMOps}),
    })


def run(stock=False, verbosity=1, pattern=None, inventory_path=False):
    if inventory_path:
        stand_in_inventory_path()
    label = '%s%s' % ('stock VMwareVCDriver' if stock
                      else 'VSphereImagesVCDriver',
                      ' (stand-in inventory path)' if inventory_path else '')
    return upstream_unit.run(load(stock), label, verbosity, pattern)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--stock', action='store_true',
                        help="run against Nova's own VMwareVCDriver")
    parser.add_argument('--inventory-path', action='store_true',
                        help='stand in for the datacenter inventory path '
                             'fake.py cannot give (see above)')
    parser.add_argument('-k', dest='pattern',
                        help='only tests whose id contains this')
    parser.add_argument('-v', action='count', default=1, dest='verbosity')
    args = parser.parse_args(argv)
    result = run(args.stock, args.verbosity, args.pattern,
                 args.inventory_path)
    return 0 if result.wasSuccessful() and result.testsRun else 1


if __name__ == '__main__':
    sys.exit(main())
