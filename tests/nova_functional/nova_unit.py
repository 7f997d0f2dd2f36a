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
while ``nova.virt.vmwareapi.driver`` and ``.vmops`` resolve to stand-in
modules that show ``VSphereImagesVCDriver`` and ``VSphereImagesVMOps``
under Nova's class names and forward everything else (reads and writes,
so ``mock.patch.object(vmops, ...)`` still patches Nova's module).  So
every test builds our classes, and every ``mock.patch.object(
vmops.VMwareVMOps, ...)`` decorator patches ours.  Nova's own modules keep
their classes (Nova's code calls ``super(VMwareVCDriver, self)``, which
must stay Nova's class).  The substitution is this runner's doing; the
driver itself changes nothing of Nova's.

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
import contextlib
import importlib
import sys
import types
import unittest
import warnings

MODULES = ('nova.tests.unit.virt.vmwareapi.test_driver_api',
           'nova.tests.unit.virt.vmwareapi.test_vmops')


class _ModuleView(types.ModuleType):
    """A module as the test modules see it: ``overrides`` replace some of
    its names; every other read and write goes to the real module."""

    def __init__(self, real, overrides):
        super().__init__(real.__name__, real.__doc__)
        object.__setattr__(self, '_real', real)
        object.__setattr__(self, '_overrides', dict(overrides))

    def __getattr__(self, name):
        overrides = object.__getattribute__(self, '_overrides')
        if name in overrides:
            return overrides[name]
        return getattr(object.__getattribute__(self, '_real'), name)

    def __getattribute__(self, name):
        if name in ('__getattr__', '__setattr__', '__delattr__',
                    '__class__', '__dict__'):
            return object.__getattribute__(self, name)
        overrides = object.__getattribute__(self, '_overrides')
        if name in overrides:
            return overrides[name]
        real = object.__getattribute__(self, '_real')
        return getattr(real, name)

    def __setattr__(self, name, value):
        overrides = object.__getattribute__(self, '_overrides')
        if name in overrides:
            overrides[name] = value
        else:
            setattr(object.__getattribute__(self, '_real'), name, value)

    def __delattr__(self, name):
        overrides = object.__getattribute__(self, '_overrides')
        if name in overrides:
            raise AttributeError('cannot delete %s' % name)
        delattr(object.__getattribute__(self, '_real'), name)


@contextlib.contextmanager
def _seen_as(views):
    """While importing: ``import``/``from`` of the named modules give the
    views."""
    import nova.virt.vmwareapi as package
    saved = {name: sys.modules[name] for name in views}
    try:
        for name, view in views.items():
            sys.modules[name] = view
            setattr(package, name.rsplit('.', 1)[1], view)
        yield
    finally:
        for name, real in saved.items():
            sys.modules[name] = real
            setattr(package, name.rsplit('.', 1)[1], real)


def stand_in_inventory_path():
    from glance_store_vmware.nova import driver as ours
    # See the module docstring: fake.py cannot answer get_inventory_path.
    ours.VSphereImagesVMOps._inventory_path = (
        lambda self, dc_ref: '/fake-dc')


def load(stock=False):
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    if stock:
        views = {}
    else:
        from nova.virt.vmwareapi import driver as nova_driver
        from nova.virt.vmwareapi import vmops

        from glance_store_vmware.nova import driver as ours
        views = {
            nova_driver.__name__: _ModuleView(
                nova_driver, {'VMwareVCDriver': ours.VSphereImagesVCDriver}),
            vmops.__name__: _ModuleView(
                vmops, {'VMwareVMOps': ours.VSphereImagesVMOps}),
        }
    with _seen_as(views):
        for name in MODULES:
            module = importlib.import_module(name)
            suite.addTests(loader.loadTestsFromModule(module))
    return suite


def run(stock=False, verbosity=1, pattern=None, inventory_path=False):
    warnings.simplefilter('ignore')
    if inventory_path:
        stand_in_inventory_path()
    suite = load(stock)
    if pattern:
        suite = unittest.TestSuite(
            t for t in _flatten(suite) if pattern in t.id())
    result = unittest.TextTestRunner(verbosity=verbosity,
                                     stream=sys.stdout).run(suite)
    passed = (result.testsRun - len(result.failures) - len(result.errors)
              - len(result.unexpectedSuccesses) - len(result.skipped))
    print('%s%s: %d/%d passed, %d skipped'
          % ('stock VMwareVCDriver' if stock else 'VSphereImagesVCDriver',
             ' (stand-in inventory path)' if inventory_path else '',
             passed, result.testsRun, len(result.skipped)))
    return result


def _flatten(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _flatten(test)
        else:
            yield test


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
