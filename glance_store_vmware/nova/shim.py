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

"""Install, or check, the module that lets Nova load our compute driver.

Nova imports ``compute_driver`` as ``nova.virt.<value>`` and nothing else,
so out-of-tree drivers (nova-lxd, compute-hyperv) put a module into
``nova/virt/``.  Shipping that file inside our wheel would make the
package own a path in Nova's tree (and break editable installs); instead
this writes one small module, on request, with the Python that runs
nova-compute:

    python -m glance_store_vmware.nova.shim          # prints the path
    python -m glance_store_vmware.nova.shim --check  # 0 if in place

after which ``compute_driver = vsphere_images.VSphereImagesVCDriver``.
The module belongs to no package: every new installation of Nova (a new
virtualenv, a rebuilt container image) lacks it, so this runs after every
Nova install or upgrade (doc/source/nova.rst); it changes nothing when the
module is in place.

Exit status: 0 done (or, with ``--check``, in place); 1 (``--check``) the
module is missing or is not the one this version writes; 2 Nova is not
installed for this Python, or the module cannot be read or written.
"""

import argparse
import contextlib
import os
import sys

MODULE = 'vsphere_images'
SOURCE = '''\
# Written by "python -m glance_store_vmware.nova.shim"; lets nova.conf say
# compute_driver = vsphere_images.VSphereImagesVCDriver
from glance_store_vmware.nova.driver import VSphereImagesVCDriver  # noqa
'''

OK = 0
NOT_IN_PLACE = 1
CANNOT = 2

INSTALLED = 'installed'
MISSING = 'missing'
DIFFERENT = 'different'


class NovaNotFound(Exception):
    """Nova cannot be imported by this Python."""


def nova_virt_dir():
    """The directory of the installed ``nova.virt`` package."""
    try:
        import nova.virt
    except ImportError as e:
        raise NovaNotFound(
            'Nova is not installed for %s (%s).  Run this with the Python '
            'that runs nova-compute: the one of its virtualenv or container '
            'image, or the system python3 for distribution packages.'
            % (sys.executable, e)) from None
    return os.path.dirname(nova.virt.__file__)


def module_path(virt_dir=None):
    return os.path.join(virt_dir or nova_virt_dir(), MODULE + '.py')


def status(virt_dir=None):
    """``(state, path)``: INSTALLED if the module is the one we write,
    MISSING, or DIFFERENT (another version's, or edited)."""
    path = module_path(virt_dir)
    try:
        with open(path) as f:
            return (INSTALLED if f.read() == SOURCE else DIFFERENT), path
    except FileNotFoundError:
        return MISSING, path


def install(virt_dir=None):
    """Write ``nova/virt/vsphere_images.py``; returns its path."""
    state, path = status(virt_dir)
    if state == INSTALLED:
        return path
    tmp = path + '.tmp'
    try:
        with open(tmp, 'w') as f:
            f.write(SOURCE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def check(virt_dir=None):
    """Report whether the module is in place; returns the exit status."""
    state, path = status(virt_dir)
    if state == INSTALLED:
        print('%s is in place: compute_driver = '
              'vsphere_images.VSphereImagesVCDriver loads '
              'glance_store_vmware\'s driver' % path)
        return OK
    if state == MISSING:
        print('%s is missing (a new or upgraded Nova): nova-compute cannot '
              'load compute_driver = vsphere_images.VSphereImagesVCDriver; '
              'run python -m glance_store_vmware.nova.shim' % path,
              file=sys.stderr)
    else:
        print('%s is not the module this version of glance_store_vmware '
              'writes; run python -m glance_store_vmware.nova.shim to '
              'replace it' % path, file=sys.stderr)
    return NOT_IN_PLACE


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m glance_store_vmware.nova.shim',
        description='Write (or check) nova/virt/vsphere_images.py, which '
                    'lets nova.conf say compute_driver = '
                    'vsphere_images.VSphereImagesVCDriver.')
    parser.add_argument('--check', action='store_true',
                        help='only report whether the module is in place; '
                             'exit status 0 if it is, 1 if not')
    parser.add_argument('virt_dir', nargs='?',
                        help='the nova/virt directory (default: that of '
                             'the Nova this Python imports)')
    args = parser.parse_args(argv)
    try:
        if args.check:
            return check(args.virt_dir)
        print(install(args.virt_dir))
        return OK
    except NovaNotFound as e:
        print(e, file=sys.stderr)
    except OSError as e:
        print('cannot %s the module: %s'
              % ('read' if args.check else 'write', e), file=sys.stderr)
    return CANNOT


if __name__ == '__main__':
    sys.exit(main())
