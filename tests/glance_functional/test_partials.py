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

"""A glance-api killed between an upload's last byte and the rename
leaves the complete partial file; the restarted glance-api reclaims it
once it is old enough, with the default ``vmware_partial_file_*``
options."""

import io
import os
import signal
import threading
import time

import pytest

from glance_store_vmware import partials
from tests.functional import fault_proxy
from tests.helpers import payload
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(600)

MiB = 1024 * 1024
OLD = 2 * 3600   # beyond the default vmware_partial_file_max_age (3600 s)


def test_a_killed_upload_s_partial_file_is_reclaimed_after_restart(
        vcsim, test_ca, glance_factory):
    image_dir = os.path.join(vcsim.datastore_dir('LocalDS_0'),
                             'openstack_glance')
    with fault_proxy.FaultProxy(vcsim.host, vcsim.port, test_ca) as proxy:
        through_proxy = dict(vmware_server_host=proxy.host,
                             vmware_server_port=proxy.port)
        api = glance_factory(vcsim, **through_proxy)
        glance = api.client()
        image = glance.images.create(name='killed', disk_format='raw',
                                     container_format='bare')
        data = payload(2 * MiB)
        # The simulator gets the whole body and stores it; the answer
        # never comes back, so the rename never starts.
        proxy.stall_after = len(data) + 1

        def upload():
            try:
                glance.images.upload(image.id, io.BytesIO(data),
                                     image_size=len(data))
            except Exception:
                pass   # glance-api is killed under it

        uploader = threading.Thread(target=upload, daemon=True)
        uploader.start()

        def partial():
            names = [n for n in os.listdir(image_dir)
                     if partials.image_of(n) == image.id] \
                if os.path.isdir(image_dir) else []
            return names and os.path.join(image_dir, names[0])

        path = wait_for(partial, 'the complete partial file')
        wait_for(lambda: os.path.getsize(path) == len(data),
                 'the whole body on the datastore')
        os.killpg(api._pgid, signal.SIGKILL)
        api.stop()
        uploader.join(60)
        assert os.path.getsize(path) == len(data)

        # An hour later, the glance-api comes back.
        then = time.time() - OLD
        os.utime(path, (then, then))
        proxy.stop()
        proxy.reset()
        proxy.start()
        restarted = glance_factory(vcsim, **through_proxy)
        wait_for(lambda: not os.path.exists(path),
                 'the restarted glance-api to remove %s' % path, timeout=60)
        assert os.listdir(image_dir) == []
        with open(restarted.log_file) as f:
            log = f.read()
        assert 'removed abandoned partial upload' in log
        assert os.path.basename(path) in log
