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

"""Install the module that lets Nova load our compute driver.

Nova imports ``compute_driver`` as ``nova.virt.<value>`` and nothing else,
so out-of-tree drivers (nova-lxd, compute-hyperv) put a module into
``nova/virt/``.  Shipping that file inside our wheel would make the
package own a path in Nova's tree (and break editable installs); instead
this writes one small module, on request:

    python -m glance_store_vmware.nova.shim      # prints the path written

after which ``compute_driver = vsphere_images.VSphereImagesVCDriver``.
"""

import os
import sys

MODULE = 'vsphere_images'
SOURCE = '''\
# Written by "python -m glance_store_vmware.nova.shim"; lets nova.conf say
# compute_driver = vsphere_images.VSphereImagesVCDriver
from glance_store_vmware.nova.driver import VSphereImagesVCDriver  # noqa
'''


def install(virt_dir=None):
    """Write ``nova/virt/vsphere_images.py``; returns its path."""
    if virt_dir is None:
        import nova.virt
        virt_dir = os.path.dirname(nova.virt.__file__)
    path = os.path.join(virt_dir, MODULE + '.py')
    try:
        with open(path) as f:
            if f.read() == SOURCE:
                return path
    except FileNotFoundError:
        pass
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(SOURCE)
    os.replace(tmp, path)
    return path


def main():
    print(install(sys.argv[1] if len(sys.argv) > 1 else None))


if __name__ == '__main__':
    main()
