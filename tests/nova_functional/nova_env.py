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

"""A nova-compute without database, placement or message broker: just
enough configuration for the real VMware driver's ``spawn()``.

Order matters: ``nova.virt.vmwareapi.session`` binds ``CONF.vmware.*`` as
default arguments when it is imported, so the configuration (including the
simulator's fixed port and password) is set before that import.
"""

import os
import threading
import uuid

from tests import ini_files

NOVA_CONF = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'etc', 'nova.conf')
SIM_USER = 'nova-vcuser'
SIM_PASSWORD = 'nova-test-password'

_lock = threading.Lock()
_configured = None


def configure(port, ca_file, lock_path, documented_defaults=False):
    """Configure Nova once per process; later calls must agree.

    ``documented_defaults``: keep ``[vmware]`` retry count and task poll
    interval at Nova's defaults instead of the tests' fast values."""
    global _configured
    with _lock:
        if _configured is not None:
            if _configured != (port, ca_file):
                raise RuntimeError('Nova is configured for %r already'
                                   % (_configured,))
            return
        from nova import objects
        from nova import rpc
        import nova.conf

        conf = nova.conf.CONF
        conf([], project='nova', default_config_files=[
            _render_nova_conf(port, ca_file, lock_path,
                              documented_defaults)])
        from oslo_messaging import transport as om_transport
        conf.register_opts(om_transport._transport_opts)
        rpc.init(conf)
        objects.register_all()
        _configured = (port, ca_file)


def _render_nova_conf(port, ca_file, lock_path, documented_defaults=False):
    """etc/nova.conf, the documented file, with this site's values."""
    with open(NOVA_CONF) as f:
        text = f.read()
    fast = {} if documented_defaults else {'api_retry_count': 2,
                                           'task_poll_interval': 0.02}
    text = ini_files.edit_ini(text, {
        'DEFAULT': {'transport_url': 'fake:/', 'my_ip': '127.0.0.1'},
        'oslo_concurrency': {'lock_path': lock_path},
        'vmware': {'host_ip': '127.0.0.1', 'host_port': port,
                   'host_username': SIM_USER, 'host_password': SIM_PASSWORD,
                   'ca_file': ca_file, 'cluster_name': 'DC0_C0', **fast},
        # The example's datastore does not exist here: allow all; tests
        # that restrict the datastores set them themselves.
        'vsphere_image_handler': {'image_datastores': None},
    })
    os.makedirs(lock_path, exist_ok=True)
    path = os.path.join(lock_path, 'nova.conf')
    with open(path, 'w') as f:
        f.write(text)
    return path


class FakeGlance:
    """Nova's Glance image API, serving images from memory and counting
    what it was asked."""

    def __init__(self):
        self.images = {}
        self.calls = []
        self.bytes_served = 0

    def add(self, image_id, data, locations=(), direct_url=None, **meta):
        record = dict(id=image_id, size=len(data), status='active',
                      locations=[{'url': u, 'metadata': {}}
                                 for u in locations],
                      direct_url=direct_url, **meta)
        self.images[image_id] = (record, data)

    def get(self, context, image_id, include_locations=False,
            show_deleted=True):
        self.calls.append(('get', image_id, include_locations))
        record = dict(self.images[image_id][0])
        if not include_locations:
            record.pop('locations')
            record.pop('direct_url')
        return record

    def download(self, context, image_id, **kwargs):
        self.calls.append(('download', image_id))
        data = self.images[image_id][1]

        def chunks():
            for i in range(0, len(data), 64 * 1024):
                chunk = data[i:i + 64 * 1024]
                self.bytes_served += len(chunk)
                yield chunk
        return chunks()


class FakeVirtAPI:
    """The compute manager's callbacks; spawn does not use them."""


def compute_driver(class_path=None):
    """Load ``compute_driver`` (etc/nova.conf's) the way nova-compute
    does."""
    from nova.virt import driver
    return driver.load_compute_driver(FakeVirtAPI(), class_path)


def spawn(driver, image_id, image_meta, *, flavor_root_gb=1,
          instance_uuid=None):
    """Spawn one instance from ``image_id``; returns the instance."""
    from nova import context as nova_context
    from nova import objects
    from nova.network import model as network_model

    ctx = nova_context.RequestContext('user', 'project', is_admin=True)
    flavor = objects.Flavor(
        id=1, flavorid='1', name='m1.tiny', memory_mb=128, vcpus=1,
        root_gb=flavor_root_gb, ephemeral_gb=0, swap=0, memswap_mb=0,
        rxtx_factor=1.0, vcpu_weight=None, is_public=True, disabled=False,
        description=None, extra_specs={})
    instance = objects.Instance(
        context=ctx, id=1, uuid=instance_uuid or str(uuid.uuid4()),
        project_id='project', user_id='user', image_ref=image_id,
        flavor=flavor, memory_mb=128, vcpus=1, root_gb=flavor_root_gb,
        ephemeral_gb=0, task_state=None, vm_state='building', power_state=0,
        display_name='vm', hostname='vm', metadata={}, system_metadata={},
        config_drive='', key_data=None, launched_at=None,
        availability_zone=None, host='compute', node='node')
    meta = objects.ImageMeta.from_dict(dict(image_meta, id=image_id))
    driver.spawn(ctx, instance, meta, injected_files=[], admin_password=None,
                 allocations={}, network_info=network_model.NetworkInfo([]))
    return instance
