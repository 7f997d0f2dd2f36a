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

"""The documented configuration files (etc/), pointed at the simulator,
and the command run on them in-process."""

import io
import json
import os

from glance_store_vmware.cli import main
from tests.ini_files import edit_ini

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
GLANCE_CONF = os.path.join(REPO_ROOT, 'etc', 'glance-api.conf')
MULTI_CONF = os.path.join(REPO_ROOT, 'etc', 'glance-api-multistore.conf')
NOVA_CONF = os.path.join(REPO_ROOT, 'etc', 'nova.conf')
CINDER_CONF = os.path.join(REPO_ROOT, 'etc', 'cinder.conf')
CINDER_BACKEND = 'vmware-images'


def store_site(sim, *datastores):
    """The site-specific values of a vsphere store section."""
    dc = sim.datacenter()['name']
    return {'vmware_server_host': sim.host,
            'vmware_server_port': sim.port,
            'vmware_server_username': sim.username,
            'vmware_server_password': sim.password,
            'vmware_ca_file': sim.ca_file,
            'vmware_datastores': ['%s:%s:%d' % (dc, ds, 100 - i)
                                  for i, ds in enumerate(datastores)]}


def write(path, source, site, extra=None):
    """``source`` with the ``site`` values (which the documented file
    must have) and ``extra`` options (set, added, or removed if None)."""
    with open(source) as f:
        text = f.read()
    text = edit_ini(text, site, must_exist=True)
    text = edit_ini(text, {s: o for s, o in (extra or {}).items() if o})
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def glance_conf(tmp_path, sim, datastores=('LocalDS_0',), store=None,
                extra=None, name='glance-api.conf'):
    """etc/glance-api.conf for the simulator; ``store`` overrides
    ``[glance_store]`` options (None removes one)."""
    extra = dict(extra or {})
    extra['glance_store'] = dict(store or {})
    return write(tmp_path / name, GLANCE_CONF,
                 {'glance_store': store_site(sim, *datastores)}, extra)


def multi_conf(tmp_path, sim, backends, extra=None):
    """etc/glance-api-multistore.conf; ``backends`` maps ``fast`` and
    ``bulk`` to their datastores."""
    site = {name: store_site(sim, *datastores)
            for name, datastores in backends.items()}
    return write(tmp_path / 'glance-api-multistore.conf', MULTI_CONF, site,
                 extra)


def nova_conf(tmp_path, sim, vmware=None, handler=None, extra=None):
    dc = sim.datacenter()['name']
    site = {'vmware': {'host_ip': sim.host, 'host_port': sim.port,
                       'host_username': sim.username,
                       'host_password': sim.password,
                       'ca_file': sim.ca_file,
                       'cluster_name': '%s_C0' % dc},
            'vsphere_image_handler': {
                'image_datastores': '%s:LocalDS_0' % dc}}
    extra = dict(extra or {})
    extra.update({'vmware': dict(vmware or {}),
                  'vsphere_image_handler': dict(handler or {})})
    return write(tmp_path / 'nova.conf', NOVA_CONF, site, extra)


def cinder_conf(tmp_path, sim, backend=None, extra=None):
    """etc/cinder.conf for the simulator; ``backend`` overrides options
    of its backend section (None removes one)."""
    dc = sim.datacenter()['name']
    site = {CINDER_BACKEND: {
        'vmware_host_ip': sim.host, 'vmware_host_port': sim.port,
        'vmware_host_username': sim.username,
        'vmware_host_password': sim.password,
        'vmware_ca_file': sim.ca_file,
        'vmware_cluster_name': '%s_C0' % dc,
        'vsphere_image_datastores': '%s:LocalDS_0' % dc}}
    extra = dict(extra or {})
    extra[CINDER_BACKEND] = dict(backend or {})
    return write(tmp_path / 'cinder.conf', CINDER_CONF, site, extra)


class Result:
    def __init__(self, status, stdout, stderr):
        self.status = status
        self.stdout = stdout
        self.stderr = stderr

    def json(self):
        return json.loads(self.stdout)

    def rows(self, key):
        return self.json()[key]


def run(*argv):
    """The command in-process; JSON output unless a format is given."""
    argv = list(argv)
    if '--format' not in argv and '-f' not in argv:
        argv += ['--format', 'json']
    out, err = io.StringIO(), io.StringIO()
    status = main.main(argv, stdout=out, stderr=err)
    return Result(status, out.getvalue(), err.getvalue())
