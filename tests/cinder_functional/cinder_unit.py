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

"""Cinder's own VMDK driver unit tests, run against our volume driver.

    python -m tests.cinder_functional.cinder_unit           # our driver
    python -m tests.cinder_functional.cinder_unit --stock   # Cinder's

Cinder 29 ships ``cinder.tests.unit.volume.drivers.vmware.test_vmware_vmdk``
(every volume operation of ``VMwareVcVmdkDriver``, with volumeops and the
vCenter session mocked).  It is imported while
``cinder.volume.drivers.vmware.vmdk`` shows ``VSphereImagesVmdkDriver``
under Cinder's class name (see ``tests/upstream_unit.py``), so every test
builds our driver and every ``mock.patch.object(VMDK_DRIVER, ...)``
patches ours.  The substitution is this runner's doing; the driver itself
changes nothing of Cinder's.

Cinder's code calls four static methods through its own class name, out of
reach of the tests' patches on our class; ``tested_class`` forwards them
(our driver does not override them).

The mocked image services of these tests give no image record our copy
attempt can use, so the attempt stops there and the driver must behave
exactly as Cinder's (its upload, same calls), which is what these tests
check.

Two tests assert what this driver changes on purpose, and must fail with
it (and pass with Cinder's): ``CHANGED_ON_PURPOSE``.  Every other test
must pass with both.  Exits non-zero otherwise; prints ``<passed>/<run>``.
"""

import argparse
import sys
import unittest

from tests import upstream_unit

MODULES = ('cinder.tests.unit.volume.drivers.vmware.test_vmware_vmdk',)

CHANGED_ON_PURPOSE = {
    'test_get_vsphere_url': (
        "asserts that _get_vsphere_url returns a vsphere:// direct_url, "
        "which Cinder then copies unchecked (any vCenter's datacenter "
        "path, any datastore, any file, no size check); this driver "
        "returns None there and copies in _copy_image, checked"),
    'test_get_vsphere_url_': (
        "asserts that _get_vsphere_url asks Glance for the locations; "
        "this driver's does not (the checked copy asks once, in "
        "_copy_image)"),
}

# Static methods that Cinder's code calls through its own class name
# (``VMwareVcVmdkDriver._get_disk_type(volume)``) and that the tests
# patch on ``VMDK_DRIVER``.
STATIC_BY_NAME = ('_get_clone_type', '_get_disk_type',
                  '_get_extra_spec_disk_type', '_validate_disk_format')


def tested_class():
    """Our driver, as these tests must see it.

    Cinder's code calls a few static methods as ``VMwareVcVmdkDriver.X``,
    which a patch on a subclass cannot reach.  Our driver does not
    override them; here they are copied into a subclass that adds nothing
    else, and Cinder's class forwards them to it (in this process only),
    so that a test's patch on ``VMDK_DRIVER`` reaches Cinder's callers as
    it does in the stock run.
    """
    from cinder.volume.drivers.vmware import vmdk

    from glance_store_vmware.cinder import driver as ours
    stock = vmdk.VMwareVcVmdkDriver
    tested = type(ours.VSphereImagesVmdkDriver.__name__,
                  (ours.VSphereImagesVmdkDriver,),
                  {name: stock.__dict__[name] for name in STATIC_BY_NAME})

    def forward(name):
        return staticmethod(
            lambda *args, **kwargs: getattr(tested, name)(*args, **kwargs))
    for name in STATIC_BY_NAME:
        assert name not in ours.VSphereImagesVmdkDriver.__dict__, name
        setattr(stock, name, forward(name))
    return tested


def _name(test):
    return test.id().rsplit('.', 1)[-1]


def load(stock=False):
    if stock:
        return upstream_unit.load(MODULES, {})
    from cinder.volume.drivers.vmware import vmdk
    return upstream_unit.load(MODULES, {
        vmdk.__name__: upstream_unit.ModuleView(
            vmdk, {'VMwareVcVmdkDriver': tested_class()}),
    })


def run(stock=False, verbosity=1, pattern=None):
    """True if every test ran passed (with ours: every test but those
    changed on purpose, which must fail)."""
    tests = [t for t in upstream_unit.flatten(load(stock))
             if pattern is None or pattern in t.id()]
    if stock:
        result = upstream_unit.run(unittest.TestSuite(tests),
                                   'stock VMwareVcVmdkDriver', verbosity)
        return result.wasSuccessful() and result.testsRun > 0
    changed = [t for t in tests if _name(t) in CHANGED_ON_PURPOSE]
    kept = [t for t in tests if t not in changed]
    result = upstream_unit.run(unittest.TestSuite(kept),
                               'VSphereImagesVmdkDriver', verbosity)
    if not changed:
        return result.wasSuccessful() and result.testsRun > 0
    different = upstream_unit.run(
        unittest.TestSuite(changed),
        'VSphereImagesVmdkDriver, tests changed on purpose (must fail)',
        verbosity)
    failed = {_name(t) for t, _ in different.failures + different.errors}
    for test in changed:
        name = _name(test)
        print('%s %s: %s' % ('fails as intended:' if name in failed
                             else 'UNEXPECTEDLY PASSES:', name,
                             CHANGED_ON_PURPOSE[name]))
    return result.wasSuccessful() and failed == {_name(t) for t in changed}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--stock', action='store_true',
                        help="run against Cinder's own VMwareVcVmdkDriver")
    parser.add_argument('-k', dest='pattern',
                        help='only tests whose id contains this')
    parser.add_argument('-v', action='count', default=1, dest='verbosity')
    args = parser.parse_args(argv)
    return 0 if run(args.stock, args.verbosity, args.pattern) else 1


if __name__ == '__main__':
    sys.exit(main())
