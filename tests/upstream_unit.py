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

"""Running an upstream project's own unit tests against our subclasses.

Nova and Cinder ship their VMware drivers' unit tests.  They are imported
while the driver modules they test resolve to stand-in modules
(``ModuleView``) that show our subclasses under the upstream class names
and forward everything else (reads and writes, so ``mock.patch.object(
module, ...)`` still patches the upstream module).  So every test builds
our classes, and every ``mock.patch.object(UpstreamClass, ...)`` decorator
patches ours.  The upstream modules keep their classes (their code calls
``super(UpstreamClass, self)``, which must stay theirs).
"""

import contextlib
import importlib
import sys
import types
import unittest
import warnings


class ModuleView(types.ModuleType):
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
def seen_as(views):
    """While importing: ``import``/``from`` of the named modules give the
    views (``{module name: ModuleView}``)."""
    saved = {name: sys.modules[name] for name in views}
    try:
        for name, view in views.items():
            package, _dot, attr = name.rpartition('.')
            sys.modules[name] = view
            setattr(sys.modules[package], attr, view)
        yield
    finally:
        for name, real in saved.items():
            package, _dot, attr = name.rpartition('.')
            sys.modules[name] = real
            setattr(sys.modules[package], attr, real)


def load(modules, views):
    """The tests of ``modules``, imported while ``views`` are seen."""
    warnings.simplefilter('ignore')
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    with seen_as(views):
        for name in modules:
            module = importlib.import_module(name)
            suite.addTests(loader.loadTestsFromModule(module))
    return suite


def flatten(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from flatten(test)
        else:
            yield test


def run(suite, label, verbosity=1, pattern=None):
    """Run ``suite`` (only tests whose id contains ``pattern``); prints
    ``<label>: <passed>/<run> passed, <n> skipped``."""
    warnings.simplefilter('ignore')
    if pattern:
        suite = unittest.TestSuite(
            t for t in flatten(suite) if pattern in t.id())
    result = unittest.TextTestRunner(verbosity=verbosity,
                                     stream=sys.stdout).run(suite)
    passed = (result.testsRun - len(result.failures) - len(result.errors)
              - len(result.unexpectedSuccesses) - len(result.skipped))
    print('%s: %d/%d passed, %d skipped'
          % (label, passed, result.testsRun, len(result.skipped)))
    return result
