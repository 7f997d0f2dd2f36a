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

"""The shared host pull (image_copy.pull) against the simulator, as Nova
and Cinder use it: an import lease the simulated ESXi host fills from the
image's ``/folder`` URL with a one-time service ticket.

The node talks to vCenter through a ``FaultProxy``, and so does the host
(it is given the URL of the vCenter this node uses): the proxy counts the
node's file bytes (``folder_bytes``) apart from the host's
(``ticket_bytes``, requests made with a service ticket).
"""

import logging
import os
import uuid

from oslo_vmware import vim_util
import pytest
import requests

from glance_store_vmware.image_copy import image as image_mod
from glance_store_vmware.image_copy import ova as ova_mod
from glance_store_vmware.image_copy import policy
from glance_store_vmware.image_copy import pull
from glance_store_vmware.vsphere import connection
from glance_store_vmware.vsphere import nfc
from glance_store_vmware.vsphere import session as session_mod
from tests import helpers
from tests.functional import fault_proxy
from tests.functional import glance_setup

MiB = 1024 * 1024
DS = 'LocalDS_0'
# vCenter 8.0: the pull exists from 6.7 on (the simulator's model says 6.5).
pytestmark = pytest.mark.vcsim(api_version='8.0.3.0')


@pytest.fixture
def proxy(vcsim, test_ca):
    with fault_proxy.FaultProxy(vcsim.host, vcsim.port, test_ca) as p:
        yield p


@pytest.fixture
def vc(vcsim, proxy):
    session = session_mod.Session(
        proxy.host, vcsim.username, vcsim.password, port=proxy.port,
        ca_file=vcsim.ca_file)
    vcenter = connection.VCenter.on(session, poll_interval=1)
    yield vcenter
    vcenter.close()
    session.close()


@pytest.fixture
def puller(vc, proxy):
    chooser = policy.LocationChooser(
        policy.PolicyConfig(host=proxy.host, port=proxy.port), vc.inventory,
        vc.http.size)
    return pull.ImagePuller(vc, chooser)


@pytest.fixture
def tickets(monkeypatch):
    """The service tickets the pull acquired."""
    seen = []
    acquire = nfc.service_ticket

    def spy(*args, **kwargs):
        seen.append(acquire(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(nfc, 'service_ticket', spy)
    return seen


def store(vcsim, proxy, data):
    """An image our Glance store wrote (through the proxy)."""
    image_id = str(uuid.uuid4())
    _conf, backend = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, DS),
        vmware_server_port=proxy.port, vmware_server_host=proxy.host)
    uri = backend.add(image_id, _Reader(data), len(data), 'sha256')[0]
    proxy.reset()  # count only what the import does
    return image_id, uri


class _Reader:
    def __init__(self, data):
        self._data = memoryview(data)
        self._pos = 0

    def read(self, n=-1):
        n = len(self._data) - self._pos if n < 0 else n
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return bytes(chunk)


def import_target(vc, name):
    """Nova's import spec (its shadow VM: one thin disk, vCenter sizes it
    from the stream) on DC0's pool and VM folder."""
    vim = vc.session.vim
    factory = vim.client.factory
    controller = factory.create('ns0:VirtualLsiLogicController')
    controller.key, controller.busNumber = -100, 0
    controller.sharedBus = 'noSharing'
    add_controller = factory.create('ns0:VirtualDeviceConfigSpec')
    add_controller.operation, add_controller.device = 'add', controller
    disk = factory.create('ns0:VirtualDisk')
    disk.capacityInKB, disk.key, disk.unitNumber = 1, -101, 0
    disk.controllerKey = -100
    backing = factory.create('ns0:VirtualDiskFlatVer2BackingInfo')
    backing.thinProvisioned, backing.diskMode = True, 'persistent'
    backing.fileName = '[%s]' % DS
    disk.backing = backing
    add_disk = factory.create('ns0:VirtualDeviceConfigSpec')
    add_disk.operation, add_disk.fileOperation = 'add', 'create'
    add_disk.device = disk
    files = factory.create('ns0:VirtualMachineFileInfo')
    files.vmPathName = '[%s]' % DS
    config = factory.create('ns0:VirtualMachineConfigSpec')
    config.name, config.guestId = name, 'otherGuest'
    config.numCPUs, config.memoryMB = 1, 128
    config.deviceChange = [add_controller, add_disk]
    config.files = files
    spec = factory.create('ns0:VirtualMachineImportSpec')
    spec.configSpec = config
    dc = vc.inventory.datacenter('DC0')
    folder = vc.session.invoke_util(vim_util, 'get_object_property', dc,
                                    'vmFolder')
    pools = vc.session.invoke_util(vim_util, 'get_objects', 'ResourcePool',
                                   100, ['name'])
    return pull.ImportTarget(pools.objects[0].obj, folder, spec)


def vm_names(vc):
    found = vc.session.invoke_util(vim_util, 'get_objects', 'VirtualMachine',
                                   100, ['name'])
    # No VM at all: an empty answer.
    return sorted(o.propSet[0].val for o in getattr(found, 'objects', []))


def imported_disk(vcsim, name):
    """The data of VM ``name``'s imported disk (its flat extent)."""
    with open(os.path.join(vcsim.datastore_dir(DS), name,
                           name + '-flat.vmdk'), 'rb') as f:
        return f.read()


def stream_image(image_id, data, **kw):
    # virtual_size: the disk's capacity, as Glance computes it at upload.
    return image_mod.Image(image_id, size=len(data),
                           disk_type='streamOptimized',
                           virtual_size=len(RAW), **kw)


RAW = helpers.payload(3 * MiB, b'pulled disk')


@pytest.fixture(scope='module')
def vmdk():
    return helpers.stream_optimized_disk(RAW)


def test_stream_optimized_image_is_pulled_by_the_host(
        vcsim, proxy, vc, puller, tickets, caplog, vmdk):
    # suds logs every SOAP message at DEBUG: the ticket must not be there.
    caplog.set_level(logging.DEBUG)
    image_id, uri = store(vcsim, proxy, vmdk)
    before = vm_names(vc)

    vm = puller.import_image(stream_image(image_id, vmdk), [uri],
                             import_target(vc, 'vol-1'))

    assert vm_names(vc) == sorted(before + ['vol-1'])
    assert imported_disk(vcsim, 'vol-1') == RAW
    # Not one file byte through this node; the host read the image once.
    assert proxy.folder_bytes == 0
    assert proxy.ticket_bytes == len(vmdk)
    [(method, path, status)] = proxy.ticket_requests
    assert (method, status) == ('GET', 200)
    assert path.startswith('/folder/openstack_glance/' + image_id + '?')
    assert vm is not None
    # One ticket, never logged (suds' DEBUG messages included).
    [ticket] = tickets
    assert ticket not in caplog.text
    # Used up: presenting it again is refused.
    again = requests.get(vc.http.url(_location_file(uri, image_id)),
                         headers={'Cookie': nfc.ticket_cookie(ticket)},
                         verify=vcsim.ca_file, timeout=30)
    assert again.status_code == 401


def _location_file(uri, image_id):
    from glance_store_vmware import location
    return location.ImageLocation.parse(uri).file


def test_ova_disk_is_pulled_out_of_the_archive(vcsim, proxy, vc, puller,
                                               vmdk):
    archive = helpers.ova(vmdk, len(RAW))
    image_id, uri = store(vcsim, proxy, archive)

    puller.import_image(
        image_mod.Image(image_id, size=len(archive), container_format='ova',
                        disk_type='streamOptimized', virtual_size=len(RAW)),
        [uri], import_target(vc, 'vol-ova'))

    assert 'vol-ova' in vm_names(vc)
    assert imported_disk(vcsim, 'vol-ova') == RAW
    # This node read the tar headers and the OVF; the host the rest.
    assert 0 < proxy.folder_bytes <= 2 * ova_mod.BLOCK
    assert proxy.ticket_bytes >= len(vmdk)


def test_pull_failing_midway_leaves_nothing(vcsim, proxy, vc, puller,
                                            vmdk):
    image_id, uri = store(vcsim, proxy, vmdk)
    before = vm_names(vc)
    files_before = helpers.files_under(vcsim.datastore_dir(DS))
    proxy.cut_pull_after = 64 * 1024

    with pytest.raises(pull.NotPulled, match='pull from .* failed'):
        puller.import_image(stream_image(image_id, vmdk), [uri],
                            import_target(vc, 'vol-cut'))

    assert 0 < proxy.ticket_bytes < len(vmdk)
    assert proxy.folder_bytes == 0
    assert vm_names(vc) == before
    assert helpers.files_under(vcsim.datastore_dir(DS)) == files_before
    assert not os.path.exists(os.path.join(vcsim.datastore_dir(DS),
                                           'vol-cut'))
    # Named again: the fallback's import of the same VM name can proceed.
    proxy.cut_pull_after = None
    puller.import_image(stream_image(image_id, vmdk), [uri],
                        import_target(vc, 'vol-cut'))
    assert 'vol-cut' in vm_names(vc)
    assert imported_disk(vcsim, 'vol-cut') == RAW


def test_ticket_is_bound_to_its_url_and_method(vcsim, proxy, vc, vmdk):
    image_id, uri = store(vcsim, proxy, vmdk)
    other_id, other_uri = store(vcsim, proxy, vmdk)
    url = vc.http.url(_location_file(uri, image_id))
    other = vc.http.url(_location_file(other_uri, other_id))
    ticket = nfc.service_ticket(vc.session, url)
    headers = {'Cookie': nfc.ticket_cookie(ticket)}

    def status(method, target):
        return requests.request(method, target, headers=headers,
                                verify=vcsim.ca_file, timeout=30).status_code

    assert status('GET', other) == 403
    assert status('HEAD', url) == 403
    assert status('PUT', url) == 403
    assert status('GET', url) == 200
    assert status('GET', url) == 401


@pytest.mark.vcsim(api_version='6.5')
def test_vcenter_before_6_7_is_not_asked_to_pull(vcsim, proxy, vc, puller,
                                                 vmdk):
    image_id, uri = store(vcsim, proxy, vmdk)
    before = vm_names(vc)

    with pytest.raises(pull.NotPulled, match='older than 6.7'):
        puller.import_image(stream_image(image_id, vmdk), [uri],
                            import_target(vc, 'vol-old'))

    assert vm_names(vc) == before
    assert (proxy.folder_bytes, proxy.ticket_requests) == (0, [])


@pytest.mark.parametrize('craft', [
    lambda uri: uri.replace('127.0.0.1', 'vcenter.elsewhere.example'),
    lambda uri: uri.replace('dsName=LocalDS_0', 'dsName=LocalDS_1'),
    lambda uri: uri.replace('/folder/openstack_glance/',
                            '/folder/openstack_glance/../other/'),
    lambda uri: uri.replace('/folder/openstack_glance/',
                            '/folder/openstack_glance/x'),
], ids=['other-vcenter', 'datastore-not-allowed', 'outside-image-dir',
        'wrong-file-name'])
def test_crafted_locations_are_refused_before_any_import(
        vcsim, proxy, vc, vmdk, craft):
    chooser = policy.LocationChooser(
        policy.PolicyConfig(host=proxy.host, port=proxy.port,
                            datastores=(('DC0', DS),)),
        vc.inventory, vc.http.size)
    puller = pull.ImagePuller(vc, chooser)
    image_id, uri = store(vcsim, proxy, vmdk)
    before = vm_names(vc)

    with pytest.raises(pull.NotPulled, match='refused'):
        puller.import_image(stream_image(image_id, vmdk), [craft(uri)],
                            import_target(vc, 'vol-crafted'))

    assert vm_names(vc) == before
    assert proxy.ticket_requests == []
