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

"""The real Nova 34 ``spawn()`` of streamOptimized and OVA images, which
Nova imports through an NFC lease: filled by the simulated ESXi host's
pull from the image's location, or by Nova's own upload when that is not
possible.

nova-compute talks to vCenter through a ``FaultProxy`` listening on
Nova's vCenter port (the simulator listens elsewhere), which counts the
file bytes through the compute node (``/folder`` and ``/nfc``) apart from
the host's pull (requests made with a service ticket).
"""

import io
import os
import uuid

import pytest

from tests import helpers
from tests.functional import conftest as functional
from tests.functional import fault_proxy
from tests.functional import glance_setup
from tests.nova_functional import nova_env

MiB = 1024 * 1024
CACHE = '127.0.0.1_base'
RAW = helpers.payload(3 * MiB, b'nova pulled disk')
STREAM = {'disk_format': 'vmdk', 'container_format': 'bare',
          'properties': {'vmware_disktype': 'streamOptimized'}}
OVA = {'disk_format': 'vmdk', 'container_format': 'ova',
       'properties': {'vmware_disktype': 'streamOptimized'}}
PULLED = 'imported by the host\'s pull from'
NOT_PULLED = 'is not pulled by the host, uploading it through this node'


@pytest.fixture(scope='module')
def vmdk():
    return helpers.stream_optimized_disk(RAW)


@pytest.fixture
def vcsim(request, vcsim_build, test_ca, tmp_path_factory, nova_configured):
    """The simulator as vCenter 8.0 on a port of its own (the proxy has
    Nova's)."""
    from nova.virt.vmwareapi import ds_util
    from nova.virt.vmwareapi import vm_util
    ds_util._DS_DC_MAPPING.clear()
    vm_util._FOLDER_PATH_REF_MAPPING.clear()
    vm_util._VM_REFS_CACHE.clear()
    marker = request.node.get_closest_marker('vcsim')
    version = (marker.kwargs.get('api_version') if marker else None) \
        or '8.0.3.0'
    yield from functional._simulator(
        request, vcsim_build, test_ca, tmp_path_factory,
        username=nova_env.SIM_USER, password=nova_env.SIM_PASSWORD,
        host_name='127.0.0.1', api_version=version)


@pytest.fixture
def proxy(vcsim, test_ca, nova_port):
    p = fault_proxy.FaultProxy(vcsim.host, vcsim.port, test_ca)
    p.port = nova_port
    with p:
        yield p


def glance_image(vcsim, proxy, glance, data, meta):
    """An image our Glance store wrote (naming vCenter as Nova does:
    the proxy's address)."""
    image_id = str(uuid.uuid4())
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, 'LocalDS_0'),
        vmware_server_port=proxy.port)
    uri = store.add(image_id, io.BytesIO(data), len(data), 'sha256')[0]
    glance.add(image_id, data, locations=[uri], **meta)
    proxy.reset()
    return image_id, uri


def logged(caplog, text):
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def cached(vcsim, image_id):
    return helpers.files_under(os.path.join(
        vcsim.datastore_dir('LocalDS_0'), CACHE, image_id))


def cached_disk(vcsim, image_id):
    """The data of the cached disk (its flat extent, as ESX stores an
    imported streamOptimized disk)."""
    path = os.path.join(vcsim.datastore_dir('LocalDS_0'), CACHE, image_id,
                        image_id + '-flat.vmdk')
    with open(path, 'rb') as f:
        return f.read()


def import_folders(vcsim):
    """The folders of import VMs on the datastore (none may be left)."""
    ds = vcsim.datastore_dir('LocalDS_0')
    return sorted(d for d in os.listdir(ds) if d.startswith('OSTACK_IMG_'))


def vm_names(vcsim):
    """The VMs vCenter knows: the instance, and no half-imported VM."""
    from oslo_vmware import vim_util
    session = vcsim.session()
    try:
        found = session.invoke_api(vim_util, 'get_objects', session.vim,
                                   'VirtualMachine', 100, ['name'])
        return sorted(o.propSet[0].val
                      for o in getattr(found, 'objects', []))
    finally:
        session.logout()


def assert_cached_and_nothing_left(vcsim, image_id, instance):
    """The cache holds the image's disk; no import VM or folder is left,
    only the instance."""
    assert '%s.vmdk' % image_id in cached(vcsim, image_id)
    assert cached_disk(vcsim, image_id) == RAW
    assert import_folders(vcsim) == []
    [vm] = vm_names(vcsim)
    assert instance.uuid in vm


def spawn(image_id, meta, data, virtual_size=None):
    """Spawn as Nova does; Glance computed the disk's ``virtual_size``
    at upload (or says ``virtual_size``)."""
    return nova_env.spawn(nova_env.compute_driver(), image_id, dict(
        meta, size=len(data), virtual_size=virtual_size or len(RAW)))


@pytest.mark.parametrize('kind', ['streamOptimized', 'ova'])
def test_image_is_pulled_by_the_host(vcsim, proxy, glance, pinned, caplog,
                                     vmdk, kind):
    data, meta = ((vmdk, STREAM) if kind == 'streamOptimized'
                  else (helpers.ova(vmdk, len(RAW)), OVA))
    image_id, _uri = glance_image(vcsim, proxy, glance, data, meta)

    instance = spawn(image_id, meta, data)

    # No image byte through the compute node: not from Glance, not into
    # the lease; for an OVA, its tar headers and OVF only.
    assert ('download', image_id) not in glance.calls
    assert glance.bytes_served == 0
    if kind == 'ova':
        assert 0 < proxy.folder_bytes <= 16 * 1024
    else:
        assert proxy.folder_bytes == 0
    assert proxy.ticket_bytes >= len(vmdk)
    assert len(logged(caplog, PULLED)) == 1
    assert logged(caplog, NOT_PULLED) == []
    assert_cached_and_nothing_left(vcsim, image_id, instance)


def test_pull_failing_midway_falls_back_to_nova_upload(
        vcsim, proxy, glance, pinned, caplog, vmdk):
    image_id, _uri = glance_image(vcsim, proxy, glance, vmdk, STREAM)
    proxy.cut_pull_after = 64 * 1024

    instance = spawn(image_id, STREAM, vmdk)

    [reason] = logged(caplog, NOT_PULLED)
    assert 'pull from' in reason and 'failed' in reason
    assert 'HttpNfcLeaseAbort' not in reason
    # Nova's own upload, into a new lease of the same VM name.
    assert glance.bytes_served == len(vmdk)
    assert proxy.folder_bytes >= len(vmdk)
    assert_cached_and_nothing_left(vcsim, image_id, instance)


def test_disk_of_another_capacity_than_glances_falls_back(
        vcsim, proxy, glance, pinned, caplog, vmdk):
    image_id, _uri = glance_image(vcsim, proxy, glance, vmdk, STREAM)

    instance = spawn(image_id, STREAM, vmdk, virtual_size=2 * len(RAW))

    [reason] = logged(caplog, NOT_PULLED)
    assert 'capacity of %d bytes, Glance says %d' % (len(RAW),
                                                     2 * len(RAW)) in reason
    assert glance.bytes_served == len(vmdk)
    assert_cached_and_nothing_left(vcsim, image_id, instance)


@pytest.mark.vcsim(api_version='6.5')
def test_vcenter_6_5_falls_back_to_nova_upload(vcsim, proxy, glance, pinned,
                                               caplog, vmdk):
    image_id, _uri = glance_image(vcsim, proxy, glance, vmdk, STREAM)

    spawn(image_id, STREAM, vmdk)

    [reason] = logged(caplog, NOT_PULLED)
    assert 'older than 6.7' in reason
    assert proxy.ticket_requests == []
    assert glance.bytes_served == len(vmdk)
    assert '%s.vmdk' % image_id in cached(vcsim, image_id)


def test_refused_location_falls_back_to_nova_upload(
        vcsim, proxy, glance, pinned, caplog, vmdk):
    image_id, uri = glance_image(vcsim, proxy, glance, vmdk, STREAM)
    glance.add(image_id, vmdk, locations=[uri.replace(
        '127.0.0.1', 'vcenter.elsewhere.example')], **STREAM)

    spawn(image_id, STREAM, vmdk)

    [reason] = logged(caplog, NOT_PULLED)
    assert 'refused' in reason and 'vcenter.elsewhere.example' in reason
    assert proxy.ticket_requests == []
    assert glance.bytes_served == len(vmdk)


def test_pull_turned_off_uses_nova_upload(vcsim, proxy, glance, pinned,
                                          nova_conf, caplog, vmdk):
    nova_conf('image_pull', False, 'vsphere_image_handler')
    image_id, _uri = glance_image(vcsim, proxy, glance, vmdk, STREAM)

    spawn(image_id, STREAM, vmdk)

    assert logged(caplog, PULLED) == logged(caplog, NOT_PULLED) == []
    assert proxy.ticket_requests == []
    assert glance.bytes_served == len(vmdk)


def test_nova_own_ova_upload_is_broken(vcsim, proxy, glance, pinned,
                                       nova_conf, vmdk):
    # Nova 34's fetch_image_ova sizes oslo.vmware's VmdkWriteHandle by the
    # OVA (Glance's size) but writes only the disk member into it, so
    # get_imported_vm always finds the upload "incomplete": without the
    # host's pull, OVA images do not boot.  Pinned, so that a fixed Nova
    # or oslo.vmware shows up here.
    from oslo_vmware import exceptions as vexc
    nova_conf('image_pull', False, 'vsphere_image_handler')
    data = helpers.ova(vmdk, len(RAW))
    image_id, _uri = glance_image(vcsim, proxy, glance, data, OVA)

    with pytest.raises(vexc.ImageTransferException,
                       match='Incomplete VMDK upload'):
        spawn(image_id, OVA, data)
