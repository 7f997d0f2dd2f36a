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

"""The simulator and its harness do what the functional tests rely on.

Everything talks TLS verified against the test CA, except the tests that
prove insecure mode works and that verification really rejects a server
the CA did not sign.
"""

import hashlib
import os
import socket
import ssl
import time
import urllib.parse

from oslo_vmware import exceptions as vexc
from oslo_vmware import service as oslo_service
from oslo_vmware import vim_util
import pytest
import requests
from suds import client as suds_client

from tests.vcsim import harness
from tests.vcsim import required_methods

DS = 'LocalDS_0'


# Helpers ------------------------------------------------------------------

def moref(value, type_):
    return vim_util.get_moref(value, type_)


def dc_ref(sim, dc=None):
    return moref(sim.datacenter(dc)['moref'], 'Datacenter')


def ds_ref(sim, name=DS, dc=None):
    return moref(sim.datastore(name, dc)['moref'], 'Datastore')


def ds_path(name, path):
    return '[%s] %s' % (name, path)


def run_task(session, method, managed_object, **kwargs):
    task = session.invoke_api(session.vim, method, managed_object, **kwargs)
    return session.wait_for_task(task)


def file_manager(session):
    return session.vim.service_content.fileManager


def local_path(sim, path, ds=DS):
    return os.path.join(sim.datastore_dir(ds), path)


def read_local(sim, path, ds=DS):
    with open(local_path(sim, path, ds), 'rb') as f:
        return f.read()


def write_local(sim, path, data, ds=DS):
    full = local_path(sim, path, ds)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'wb') as f:
        f.write(data)


def regular_files(directory):
    return {os.path.relpath(os.path.join(root, name), directory)
            for root, _, names in os.walk(directory) for name in names}


class Folder:
    """/folder over HTTPS with the session cookie, verified by the test CA."""

    def __init__(self, sim, session, ds=DS):
        self.sim = sim
        self.ds = ds
        self.cookie = sim.cookie_header(session)

    def url(self, path):
        return self.sim.folder_url(path, self.ds)

    def request(self, method, path, headers=None, cookie=True, **kwargs):
        headers = dict(headers or {})
        if cookie:
            headers['Cookie'] = self.cookie
        return requests.request(method, self.url(path), headers=headers,
                                verify=self.sim.ca_file, timeout=30,
                                **kwargs)

    def put(self, path, data, **kwargs):
        return self.request('PUT', path, data=data, **kwargs)

    def get(self, path, **kwargs):
        return self.request('GET', path, **kwargs)

    def head(self, path, **kwargs):
        return self.request('HEAD', path, **kwargs)


@pytest.fixture
def session(vcsim):
    s = vcsim.session()
    yield s
    s.logout()


@pytest.fixture
def folder(vcsim, session):
    return Folder(vcsim, session)


PAYLOAD = bytes(range(256)) * 64 + b'tail'  # 16 KiB + 4, not chunk aligned


# The harness ----------------------------------------------------------------

def test_simulator_exits_cleanly_and_removes_its_scratch_directory(
        vcsim_build, test_ca):
    sim = harness.Simulator(vcsim_build, test_ca, datastores=1)
    with sim:
        scratch = sim.tmpdir
        backing = sim.datastore_dir(DS)
        assert backing.startswith(scratch + os.sep)
        assert os.path.isdir(backing)
    assert sim.exit_code == 0, sim.stderr_tail()
    assert not os.path.exists(scratch)
    assert sim.pid is None


def test_simulator_that_cannot_start_reports_its_stderr(vcsim_build, test_ca,
                                                        tmp_path):
    class MissingCert:
        ca_file = test_ca.ca_file
        cert_file = str(tmp_path / 'missing.pem')
        key_file = test_ca.key_file

    sim = harness.Simulator(vcsim_build, MissingCert())
    with pytest.raises(harness.SimulatorError, match='vcsim stderr'):
        sim.start()
    assert sim.tmpdir is None and sim.pid is None


@pytest.mark.vcsim(datacenters=2, clusters=1, cluster_hosts=1, datastores=3,
                   pods=1)
def test_topology_follows_the_requested_counts(vcsim, session):
    dcs = vcsim.inventory['datacenters']
    assert [dc['name'] for dc in dcs] == ['DC0', 'DC1']
    for dc in dcs:
        assert [ds['name'] for ds in dc['datastores']] == [
            'LocalDS_0', 'LocalDS_1', 'LocalDS_2']
        assert len(dc['clusters']) == 1
        assert len(dc['clusters'][0]['hosts']) == 1
        assert len(dc['pods']) == 1
    backing_dirs = [ds['dir'] for dc in dcs for ds in dc['datastores']]
    assert len(set(backing_dirs)) == 6
    assert all(os.path.isdir(d) for d in backing_dirs)

    result = session.invoke_api(vim_util, 'get_objects', session.vim,
                                'StoragePod', 100, ['name'])
    assert len(result.objects) == 2


@pytest.mark.vcsim(datastores=3, pods=1)
def test_storage_pods_hold_datastores(vcsim, session):
    dc = vcsim.datacenter()
    (pod,) = dc['pods']
    by_name = {ds['name']: ds for ds in dc['datastores']}
    assert pod['members'], 'a storage pod with no datastore is no target'
    assert set(pod['members']) <= set(by_name)

    children = session.invoke_api(vim_util, 'get_object_property',
                                  session.vim,
                                  moref(pod['moref'], 'StoragePod'),
                                  'childEntity')
    assert sorted(ref.value for ref in children.ManagedObjectReference) == (
        sorted(by_name[name]['moref'] for name in pod['members']))


# SOAP over verified TLS -----------------------------------------------------

def test_login_over_tls_verified_by_the_test_ca(vcsim):
    session = vcsim.session()
    try:
        assert session.vim.service_content.about.apiType == 'VirtualCenter'
        assert session.is_current_session_active()
        assert vcsim.cookie_header(session).startswith('vmware_soap_session=')
    finally:
        session.logout()


def test_login_with_a_wrong_password_is_refused(vcsim):
    with pytest.raises(vexc.VimFaultException) as e:
        vcsim.session(server_password=vcsim.password + 'x')
    assert 'InvalidLogin' in e.value.fault_list


def refuses_tls(sim, **session_kwargs):
    """True if an oslo.vmware session with these TLS settings cannot even
    fetch the service content.

    Sessions are created without logging in: oslo.vmware retries a login
    that fails with a connection error forever.
    """
    session = sim.session(create_session=False, **session_kwargs)
    try:
        session.vim.retrieve_service_content()
    except (requests.exceptions.SSLError, vexc.VimConnectionException) as e:
        return 'CERTIFICATE_VERIFY_FAILED' in str(e)
    return False


def test_tls_verification_rejects_a_certificate_from_another_ca(vcsim,
                                                                other_ca):
    assert refuses_tls(vcsim, cacert=other_ca.ca_file, insecure=False)
    with pytest.raises(requests.exceptions.SSLError,
                       match='CERTIFICATE_VERIFY_FAILED'):
        requests.get(vcsim.url + '/vimService.wsdl',
                     verify=other_ca.ca_file, timeout=30)
    assert not refuses_tls(vcsim, cacert=vcsim.ca_file, insecure=False)


def test_tls_verification_with_the_system_trust_store_rejects_the_test_ca(
        vcsim):
    # cacert=None with insecure=False means "verify with the system bundle"
    # (or whatever REQUESTS_CA_BUNDLE names).
    assert refuses_tls(vcsim, cacert=None, insecure=False)
    with pytest.raises(requests.exceptions.SSLError,
                       match='CERTIFICATE_VERIFY_FAILED'):
        requests.get(vcsim.url + '/vimService.wsdl', verify=True, timeout=30)


@pytest.mark.filterwarnings(
    'ignore::urllib3.exceptions.InsecureRequestWarning')
def test_insecure_mode_logs_in_without_verification(vcsim):
    session = vcsim.session(cacert=None, insecure=True)
    try:
        assert session.is_current_session_active()
    finally:
        session.logout()


def test_served_wsdl_has_every_method_the_project_uses(vcsim):
    wsdl_url = vcsim.url + '/vimService.wsdl'
    response = requests.get(wsdl_url, verify=vcsim.ca_file, timeout=30)
    assert response.status_code == 200
    assert b'definitions' in response.content[:2000]

    transport = oslo_service.RequestsTransport(cacert=vcsim.ca_file,
                                               insecure=False)
    client = suds_client.Client(wsdl_url, transport=transport, cache=None)
    operations = {name for service in client.wsdl.services
                  for port in service.ports for name in port.methods}
    assert required_methods.VIM_METHODS_USED
    missing = sorted(required_methods.VIM_METHODS_USED - operations)
    assert not missing, 'served WSDL lacks %s' % missing


# Property retrieval -------------------------------------------------------

def test_datacenters_are_retrievable_by_name(vcsim, session):
    result = session.invoke_api(vim_util, 'get_objects', session.vim,
                                'Datacenter', 100, ['name'])
    found = {obj.obj.value: obj.propSet[0].val for obj in result.objects}
    expected = {dc['moref']: dc['name']
                for dc in vcsim.inventory['datacenters']}
    assert found == expected


def test_datastore_summaries_report_vmfs_and_space(vcsim, session):
    for ds in vcsim.datacenter()['datastores']:
        summary = session.invoke_api(vim_util, 'get_object_property',
                                     session.vim, ds_ref(vcsim, ds['name']),
                                     'summary')
        assert summary.name == ds['name']
        assert summary.type == ds['type'] == 'VMFS'
        assert summary.accessible
        assert summary.capacity > 0
        assert 0 < summary.freeSpace <= summary.capacity


def test_datacenter_is_found_by_inventory_path(vcsim, session):
    ref = session.invoke_api(session.vim, 'FindByInventoryPath',
                             session.vim.service_content.searchIndex,
                             inventoryPath='DC0')
    assert ref.value == vcsim.datacenter('DC0')['moref']


# /folder HTTP ----------------------------------------------------------------

def test_put_then_get_and_head_return_the_same_bytes(vcsim, folder):
    response = folder.put('images/a.img', PAYLOAD)
    assert response.status_code in (200, 201)
    assert read_local(vcsim, 'images/a.img') == PAYLOAD

    response = folder.get('images/a.img')
    assert response.status_code == 200
    assert response.content == PAYLOAD

    response = folder.head('images/a.img')
    assert response.status_code == 200
    assert int(response.headers['Content-Length']) == len(PAYLOAD)


def test_range_get_returns_partial_content(folder):
    folder.put('images/r.img', PAYLOAD).raise_for_status()

    response = folder.get('images/r.img', headers={'Range': 'bytes=300-1323'})
    assert response.status_code == 206
    assert response.content == PAYLOAD[300:1324]
    assert response.headers['Content-Range'] == 'bytes 300-1323/%d' % len(
        PAYLOAD)

    response = folder.get('images/r.img', headers={'Range': 'bytes=-4'})
    assert response.status_code == 206
    assert response.content == b'tail'


def test_get_of_a_missing_file_is_404(folder):
    assert folder.get('images/none.img').status_code == 404


@pytest.mark.parametrize('cookie', [None, 'vmware_soap_session="bogus"'])
def test_folder_refuses_requests_without_a_valid_session_cookie(
        vcsim, folder, cookie):
    folder.put('images/secret.img', PAYLOAD).raise_for_status()
    headers = {'Cookie': cookie} if cookie else {}

    for method in ('GET', 'HEAD'):
        response = folder.request(method, 'images/secret.img',
                                  headers=headers, cookie=False)
        assert response.status_code == 401, method
        assert PAYLOAD not in response.content

    response = folder.put('images/intruder.img', b'x' * 10, headers=headers,
                          cookie=False)
    assert response.status_code == 401
    assert not os.path.exists(local_path(vcsim, 'images/intruder.img'))


def test_folder_refuses_the_cookie_of_a_logged_out_session(vcsim, session,
                                                           folder):
    session.logout()
    response = folder.get('images/anything.img')
    assert response.status_code == 401


def test_interrupted_put_leaves_no_file(vcsim, folder):
    before = regular_files(vcsim.datastore_dir(DS))
    url = urllib.parse.urlsplit(folder.url('images/partial.img'))
    request = ('PUT %s?%s HTTP/1.1\r\nHost: %s:%d\r\nCookie: %s\r\n'
               'Content-Length: %d\r\n\r\n' % (
                   url.path, url.query, vcsim.host, vcsim.port,
                   folder.cookie, 10 * len(PAYLOAD))).encode()
    tls = ssl.create_default_context(cafile=vcsim.ca_file)
    with socket.create_connection((vcsim.host, vcsim.port), timeout=10) as raw:
        with tls.wrap_socket(raw, server_hostname=vcsim.host) as conn:
            conn.sendall(request + PAYLOAD)  # a tenth of what was announced
    # Give the server time to notice the dropped connection.
    time.sleep(0.5)
    deadline = time.monotonic() + 5
    while (regular_files(vcsim.datastore_dir(DS)) != before
           and time.monotonic() < deadline):
        time.sleep(0.05)

    assert regular_files(vcsim.datastore_dir(DS)) == before
    assert folder.get('images/partial.img').status_code == 404


def test_put_into_an_existing_file_replaces_it(vcsim, folder):
    folder.put('images/b.img', PAYLOAD).raise_for_status()
    folder.put('images/b.img', b'short').raise_for_status()
    assert folder.get('images/b.img').content == b'short'
    assert read_local(vcsim, 'images/b.img') == b'short'


def test_delete_removes_the_file(vcsim, folder):
    folder.put('images/d.img', PAYLOAD).raise_for_status()
    response = folder.request('DELETE', 'images/d.img')
    assert response.status_code in (200, 204)
    assert not os.path.exists(local_path(vcsim, 'images/d.img'))
    assert folder.get('images/d.img').status_code == 404


# FileManager, datastore browser and VirtualDiskManager tasks -----------------

def test_make_directory_creates_parents(vcsim, session):
    session.invoke_api(session.vim, 'MakeDirectory', file_manager(session),
                       name=ds_path(DS, 'glance/a/b'),
                       datacenter=dc_ref(vcsim),
                       createParentDirectories=True)
    assert os.path.isdir(local_path(vcsim, 'glance/a/b'))


def test_make_directory_of_an_existing_directory_fails(vcsim, session):
    os.makedirs(local_path(vcsim, 'glance'))
    with pytest.raises(vexc.FileAlreadyExistsException):
        session.invoke_api(session.vim, 'MakeDirectory',
                           file_manager(session),
                           name=ds_path(DS, 'glance'),
                           datacenter=dc_ref(vcsim),
                           createParentDirectories=False)


def test_copy_datastore_file_copies_the_bytes(vcsim, session, folder):
    folder.put('src/image.img', PAYLOAD).raise_for_status()
    session.invoke_api(session.vim, 'MakeDirectory', file_manager(session),
                       name=ds_path('LocalDS_1', 'dst'),
                       datacenter=dc_ref(vcsim),
                       createParentDirectories=True)

    run_task(session, 'CopyDatastoreFile_Task', file_manager(session),
             sourceName=ds_path(DS, 'src/image.img'),
             sourceDatacenter=dc_ref(vcsim),
             destinationName=ds_path('LocalDS_1', 'dst/image.img'),
             destinationDatacenter=dc_ref(vcsim))

    assert read_local(vcsim, 'src/image.img') == PAYLOAD
    assert read_local(vcsim, 'dst/image.img', ds='LocalDS_1') == PAYLOAD
    other = Folder(vcsim, session, ds='LocalDS_1')
    assert other.get('dst/image.img').content == PAYLOAD


def test_move_datastore_file_moves_the_bytes(vcsim, session, folder):
    folder.put('src/image.img', PAYLOAD).raise_for_status()

    run_task(session, 'MoveDatastoreFile_Task', file_manager(session),
             sourceName=ds_path(DS, 'src/image.img'),
             sourceDatacenter=dc_ref(vcsim),
             destinationName=ds_path(DS, 'src/moved.img'),
             destinationDatacenter=dc_ref(vcsim))

    assert not os.path.exists(local_path(vcsim, 'src/image.img'))
    assert read_local(vcsim, 'src/moved.img') == PAYLOAD
    assert folder.get('src/image.img').status_code == 404
    assert folder.get('src/moved.img').content == PAYLOAD


def test_delete_datastore_file_removes_it(vcsim, session, folder):
    folder.put('src/image.img', PAYLOAD).raise_for_status()

    run_task(session, 'DeleteDatastoreFile_Task', file_manager(session),
             name=ds_path(DS, 'src/image.img'), datacenter=dc_ref(vcsim))

    assert not os.path.exists(local_path(vcsim, 'src/image.img'))
    assert folder.get('src/image.img').status_code == 404


def test_delete_datastore_file_of_a_missing_file_is_file_not_found(vcsim,
                                                                   session):
    with pytest.raises(vexc.FileNotFoundException):
        run_task(session, 'DeleteDatastoreFile_Task', file_manager(session),
                 name=ds_path(DS, 'nothing/here.img'),
                 datacenter=dc_ref(vcsim))


def test_search_datastore_finds_files_by_pattern(vcsim, session):
    write_local(vcsim, 'glance/one.img', b'1')
    write_local(vcsim, 'glance/two.img', b'22')
    write_local(vcsim, 'glance/notes.txt', b'333')
    browser = session.invoke_api(vim_util, 'get_object_property',
                                 session.vim, ds_ref(vcsim), 'browser')
    factory = session.vim.client.factory
    spec = factory.create('ns0:HostDatastoreBrowserSearchSpec')
    spec.matchPattern = ['*.img']
    spec.details = factory.create('ns0:FileQueryFlags')
    spec.details.fileSize = True
    spec.details.fileType = True
    spec.details.modification = False
    spec.details.fileOwner = False

    info = run_task(session, 'SearchDatastore_Task', browser,
                    datastorePath=ds_path(DS, 'glance'), searchSpec=spec)

    assert info.result.folderPath.rstrip('/') == ds_path(DS, 'glance')
    found = {f.path: f.fileSize for f in info.result.file}
    assert found == {'one.img': 1, 'two.img': 2}


def test_copy_virtual_disk_copies_descriptor_and_extent(vcsim, session,
                                                        folder):
    descriptor = (b'# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
                  b'createType="vmfs"\n'
                  b'RW 32 VMFS "disk-flat.vmdk"\n')
    extent = PAYLOAD
    folder.put('vm/disk.vmdk', descriptor).raise_for_status()
    folder.put('vm/disk-flat.vmdk', extent).raise_for_status()
    session.invoke_api(session.vim, 'MakeDirectory', file_manager(session),
                       name=ds_path(DS, 'copy'), datacenter=dc_ref(vcsim),
                       createParentDirectories=True)

    run_task(session, 'CopyVirtualDisk_Task',
             session.vim.service_content.virtualDiskManager,
             sourceName=ds_path(DS, 'vm/disk.vmdk'),
             sourceDatacenter=dc_ref(vcsim),
             destName=ds_path(DS, 'copy/disk.vmdk'),
             destDatacenter=dc_ref(vcsim))

    assert read_local(vcsim, 'copy/disk.vmdk') == descriptor
    assert read_local(vcsim, 'copy/disk-flat.vmdk') == extent


def test_created_virtual_disk_can_be_copied(vcsim, session):
    factory = session.vim.client.factory
    spec = factory.create('ns0:FileBackedVirtualDiskSpec')
    spec.diskType = 'thin'
    spec.adapterType = 'lsiLogic'
    spec.capacityKb = 1024
    vdm = session.vim.service_content.virtualDiskManager
    session.invoke_api(session.vim, 'MakeDirectory', file_manager(session),
                       name=ds_path(DS, 'vm'), datacenter=dc_ref(vcsim),
                       createParentDirectories=True)
    run_task(session, 'CreateVirtualDisk_Task', vdm,
             name=ds_path(DS, 'vm/new.vmdk'), datacenter=dc_ref(vcsim),
             spec=spec)

    run_task(session, 'CopyVirtualDisk_Task', vdm,
             sourceName=ds_path(DS, 'vm/new.vmdk'),
             sourceDatacenter=dc_ref(vcsim),
             destName=ds_path(DS, 'vm/copy.vmdk'),
             destDatacenter=dc_ref(vcsim))

    assert os.path.isfile(local_path(vcsim, 'vm/copy.vmdk'))


# NFC pull (HttpNfcLeasePullFromUrls_Task, patch 0021) through suds ---------

def _import_lease(vcsim, session):
    """An ImportVApp lease for a VM with one disk; returns (lease, import
    key of the disk)."""
    factory = session.vim.client.factory
    cluster = moref(vcsim.datacenter()['clusters'][0]['moref'],
                    'ClusterComputeResource')
    pool = vim_util.get_object_property(session.vim, cluster, 'resourcePool')
    vm_folder = vim_util.get_object_property(session.vim, dc_ref(vcsim),
                                             'vmFolder')
    controller = factory.create('ns0:VirtualLsiLogicController')
    controller.key, controller.busNumber = -100, 0
    controller.sharedBus = 'noSharing'
    disk = factory.create('ns0:VirtualDisk')
    disk.key, disk.unitNumber, disk.controllerKey = -101, 0, -100
    disk.capacityInKB = 1024
    disk.backing = factory.create('ns0:VirtualDiskFlatVer2BackingInfo')
    disk.backing.diskMode, disk.backing.fileName = 'persistent', ''
    changes = []
    for device in (controller, disk):
        change = factory.create('ns0:VirtualDeviceConfigSpec')
        change.operation, change.device = 'add', device
        changes.append(change)
    changes[1].fileOperation = 'create'
    config = factory.create('ns0:VirtualMachineConfigSpec')
    config.name, config.guestId = 'pulled', 'otherGuest'
    config.files = factory.create('ns0:VirtualMachineFileInfo')
    config.files.vmPathName = ds_path(DS, '')
    config.deviceChange = changes
    spec = factory.create('ns0:VirtualMachineImportSpec')
    spec.configSpec = config
    lease = session.invoke_api(session.vim, 'ImportVApp', pool, spec=spec,
                               folder=vm_folder)
    session.wait_for_lease_ready(lease)
    info = vim_util.get_object_property(session.vim, lease, 'info')
    key, = [url.importKey for url in info.deviceUrl if url.disk]
    return lease, key


def _source_file(session, folder, key, path, thumbprint, size):
    factory = session.vim.client.factory
    source = factory.create('ns0:HttpNfcLeaseSourceFile')
    source.targetDeviceId, source.url = key, folder.url(path)
    source.create, source.sslThumbprint, source.size = False, thumbprint, size
    header = factory.create('ns0:KeyValue')
    header.key, header.value = 'Cookie', folder.cookie
    source.httpHeaders = [header]
    return source


def _sha1_thumbprint(cert_file):
    with open(cert_file) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return ':'.join('%02X' % b for b in hashlib.sha1(der).digest())


def test_host_pulls_a_datastore_file_into_an_import_lease(vcsim, session,
                                                          folder):
    folder.put('images/disk.vmdk', PAYLOAD).raise_for_status()
    thumbprint = _sha1_thumbprint(vcsim.ca.cert_file)
    lease, key = _import_lease(vcsim, session)

    run_task(session, 'HttpNfcLeasePullFromUrls_Task', lease, files=[
        _source_file(session, folder, key, 'images/disk.vmdk', thumbprint,
                     len(PAYLOAD))])
    session.invoke_api(session.vim, 'HttpNfcLeaseComplete', lease)


@pytest.mark.parametrize('path, thumbprint, size, fault', [
    ('images/disk.vmdk', '00:11:22', None, 'SSLVerifyFault'),
    ('images/missing.vmdk', None, None, 'HttpFault'),
    ('images/disk.vmdk', None, 1, 'SystemError'),
])
def test_a_failed_pull_fails_its_task(vcsim, session, folder, path,
                                      thumbprint, size, fault):
    folder.put('images/disk.vmdk', PAYLOAD).raise_for_status()
    thumbprint = thumbprint or _sha1_thumbprint(vcsim.ca.cert_file)
    lease, key = _import_lease(vcsim, session)
    source = _source_file(session, folder, key, path, thumbprint,
                          size or len(PAYLOAD))

    with pytest.raises(vexc.VimFaultException) as raised:
        run_task(session, 'HttpNfcLeasePullFromUrls_Task', lease,
                 files=[source])
    assert raised.value.fault_list == [fault]
    session.invoke_api(session.vim, 'HttpNfcLeaseAbort', lease)


def _service_ticket(session, url, method='httpGet'):
    spec = session.vim.client.factory.create(
        'ns0:SessionManagerHttpServiceRequestSpec')
    spec.method, spec.url = method, url
    return session.invoke_api(
        session.vim, 'AcquireGenericServiceTicket',
        session.vim.service_content.sessionManager, spec=spec)


def test_a_service_ticket_opens_its_url_once(vcsim, session, folder):
    folder.put('images/disk.vmdk', PAYLOAD).raise_for_status()
    ticket = _service_ticket(session, folder.url('images/disk.vmdk'))
    cookie = {'Cookie': 'vmware_cgi_ticket=%s' % ticket.id}
    assert ticket.sslThumbprint == _sha1_thumbprint(vcsim.ca.cert_file)

    assert folder.head('images/disk.vmdk', headers=cookie,
                       cookie=False).status_code == 403
    assert folder.get('images/other.vmdk', headers=cookie,
                      cookie=False).status_code == 403
    got = folder.get('images/disk.vmdk', headers=cookie, cookie=False)
    assert (got.status_code, got.content) == (200, PAYLOAD)
    assert folder.get('images/disk.vmdk', headers=cookie,
                      cookie=False).status_code == 401


def test_a_pull_with_a_ticket_is_stored_when_the_lease_completes(
        vcsim, session, folder):
    folder.put('images/disk.vmdk', PAYLOAD).raise_for_status()
    ticket = _service_ticket(session, folder.url('images/disk.vmdk'))
    lease, key = _import_lease(vcsim, session)
    source = _source_file(session, folder, key, 'images/disk.vmdk',
                          ticket.sslThumbprint, len(PAYLOAD))
    source.httpHeaders[0].value = 'vmware_cgi_ticket=%s' % ticket.id

    run_task(session, 'HttpNfcLeasePullFromUrls_Task', lease, files=[source])
    assert folder.get('pulled/pulled-flat.vmdk').content == b''
    session.invoke_api(session.vim, 'HttpNfcLeaseComplete', lease)

    # Flat bytes become the -flat extent, in whole sectors.
    sectors = (len(PAYLOAD) + 511) // 512
    flat = folder.get('pulled/pulled-flat.vmdk').content
    assert flat == PAYLOAD + bytes(sectors * 512 - len(PAYLOAD))
    descriptor = folder.get('pulled/pulled.vmdk').text
    assert 'RW %d VMFS "pulled-flat.vmdk"' % sectors in descriptor
