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

"""The host pull's decisions (image_copy.pull, vsphere.nfc, the OVA's
disk), against an in-memory vCenter."""

import io
import logging
import tarfile
import types

import pytest

from glance_store_vmware.image_copy import image as image_mod
from glance_store_vmware.image_copy import ova
from glance_store_vmware.image_copy import policy
from glance_store_vmware.image_copy import pull
from glance_store_vmware.vsphere import connection
from glance_store_vmware.vsphere import nfc
from glance_store_vmware.vsphere import paths
from glance_store_vmware.vsphere import redaction
from tests.unit.fake_vsphere import IMG
from tests.unit.fake_vsphere import SIZE
from tests.unit.fake_vsphere import VC
from tests.unit.fake_vsphere import FakeVSphere
from tests.unit.fake_vsphere import glance_file
from tests.unit.fake_vsphere import url

TICKET = 'cst-VCT-52f3-SECRET-TICKET'
GiB = 1024 ** 3


class VirtualDisk(types.SimpleNamespace):
    """Named as suds names the device's class."""


class FakeVim:
    """The SOAP calls of an import lease and its pull, recorded."""

    def __init__(self, files, api_version='8.0.3.0'):
        self.host, self.port, self.verify, self.timeout = VC, 443, True, 10
        self.log = logging.LoggerAdapter(logging.getLogger('fake'), {})
        self.service_content = types.SimpleNamespace(
            about=types.SimpleNamespace(apiVersion=api_version),
            sessionManager='SessionManager')
        self.vim = types.SimpleNamespace(client=types.SimpleNamespace(
            factory=types.SimpleNamespace(
                create=lambda name: types.SimpleNamespace(type=name))))
        self.calls = []
        self.fail = {}
        self.lease_state = 'ready'
        self.pull_mode = True
        self.task_states = ['running', 'success']
        self.task_error = None
        self.capacity = GiB
        self.files = files
        self.vm_exists = False

    def invoke(self, method, target, **kwargs):
        self.calls.append((method, target, kwargs))
        if method in self.fail:
            raise self.fail[method]
        if method == 'ImportVApp':
            self.vm_exists = True
            return 'lease-1'
        if method == 'AcquireGenericServiceTicket':
            return types.SimpleNamespace(id=TICKET)
        if method == 'HttpNfcLeasePullFromUrls_Task':
            return 'task-pull'
        if method == 'Destroy_Task':
            self.vm_exists = False
            return 'task-destroy'
        return None

    def invoke_util(self, _module, _function, ref, name, **_kw):
        if ref == 'lease-1':
            return {
                'state': self.lease_state,
                'error': None,
                'info': types.SimpleNamespace(entity='vm-1', deviceUrl=[
                    types.SimpleNamespace(disk=True, importKey='/vm/disk:0'),
                    types.SimpleNamespace(disk=False, importKey='/vm/nvram'),
                ]),
                'capabilities': types.SimpleNamespace(
                    pullModeSupported=self.pull_mode),
            }[name]
        if ref == 'task-pull':
            state = (self.task_states.pop(0) if len(self.task_states) > 1
                     else self.task_states[0])
            return types.SimpleNamespace(
                state=state, progress=50,
                error=types.SimpleNamespace(fault=None,
                                            localizedMessage=self.task_error))
        if ref == 'vm-1':
            return [types.SimpleNamespace(key=1000),
                    VirtualDisk(capacityInBytes=self.capacity,
                                capacityInKB=None)]
        raise AssertionError((ref, name))

    def methods(self):
        return [c[0] for c in self.calls]

    def call(self, method):
        [found] = [c for c in self.calls if c[0] == method]
        return found


class FakeFiles(FakeVSphere):
    max_poll_interval = 0.01

    def wait_for_task(self, task, method, subject):
        self.ops.append(('wait', task))

    def url(self, dsfile):
        return 'https://%s/folder/%s?dcPath=%s&dsName=%s' % (
            VC, dsfile.path, dsfile.datacenter, dsfile.datastore)

    def get(self, dsfile, offset=0, length=None):
        data = self.data[self.key(dsfile)]
        end = len(data) if length is None else offset + length
        self.ops.append(('get', offset, end - offset))
        return iter([data[offset:end]]), end - offset


@pytest.fixture(autouse=True)
def thumbprint(monkeypatch):
    monkeypatch.setattr(nfc, 'server_thumbprint',
                        lambda *a: 'AB:CD:EF')


def setup(files=None, image_size=SIZE, data=None, **vim):
    fake = FakeFiles(files if files is not None
                     else glance_file(size=image_size))
    fake.data = {('DC1', 'ds1', 'openstack_glance/' + IMG): data}
    session = FakeVim(fake, **vim)
    vc = connection.VCenter(session, fake, fake, fake)
    chooser = policy.LocationChooser(policy.PolicyConfig(host=VC), fake,
                                     fake.size)
    return pull.ImagePuller(vc, chooser, timeout=30), session, fake


def stream_image(**kw):
    kw.setdefault('size', SIZE)
    kw.setdefault('disk_type', 'streamOptimized')
    return image_mod.Image(IMG, **kw)


TARGET = pull.ImportTarget('pool', 'folder', 'spec')


def test_pulls_with_a_ticket_for_exactly_the_file(caplog):
    caplog.set_level(logging.DEBUG)
    puller, vim, fake = setup()

    vm = puller.import_image(stream_image(virtual_size=GiB), [url()], TARGET)

    assert vm == 'vm-1'
    assert vim.methods() == ['ImportVApp', 'AcquireGenericServiceTicket',
                             'HttpNfcLeasePullFromUrls_Task',
                             'HttpNfcLeaseProgress', 'HttpNfcLeaseComplete']
    _, target, args = vim.call('ImportVApp')
    assert (target, args) == ('pool', {'spec': 'spec', 'folder': 'folder'})
    folder = fake.url(paths.DatastoreFile('DC1', 'ds1',
                                          'openstack_glance/' + IMG))
    spec = vim.call('AcquireGenericServiceTicket')[2]['spec']
    assert (spec.url, spec.method) == (folder, 'httpGet')
    [source] = vim.call('HttpNfcLeasePullFromUrls_Task')[2]['files']
    assert (source.url, source.size, source.targetDeviceId,
            source.sslThumbprint) == (folder, SIZE, '/vm/disk:0',
                                      'AB:CD:EF')
    assert [(h.key, h.value) for h in source.httpHeaders] == [
        ('Cookie', 'vmware_cgi_ticket=' + TICKET)]
    assert not hasattr(source, 'memberName')
    assert TICKET not in caplog.text
    assert vim.vm_exists


def test_finish_runs_after_the_lease_completed():
    puller, vim, _fake = setup()
    seen = []

    def finish(vm):
        seen.append((vm, vim.methods()[-1]))
        return 'capacity'

    assert puller.import_image(stream_image(), [url()], TARGET,
                               finish) == 'capacity'
    assert seen == [('vm-1', 'HttpNfcLeaseComplete')]


def assert_cleaned_up(vim, fake):
    assert 'HttpNfcLeaseComplete' not in vim.methods()
    assert 'HttpNfcLeaseAbort' in vim.methods()
    assert vim.call('Destroy_Task')[1] == 'vm-1'
    assert ('wait', 'task-destroy') in fake.ops
    assert not vim.vm_exists


def test_failed_pull_aborts_and_destroys_the_half_imported_vm():
    puller, vim, fake = setup()
    vim.task_states = ['running', 'error']
    vim.task_error = 'HttpFault: 500'

    with pytest.raises(pull.NotPulled, match='HttpFault: 500'):
        puller.import_image(stream_image(), [url()], TARGET)
    assert_cleaned_up(vim, fake)


def test_pull_past_its_timeout_is_aborted(monkeypatch):
    puller, vim, fake = setup()
    puller._timeout = 0.2
    vim.task_states = ['running']

    with pytest.raises(pull.NotPulled, match='within 0.2 s'):
        puller.import_image(stream_image(), [url()], TARGET)
    assert_cleaned_up(vim, fake)


def test_the_lease_is_kept_alive_while_the_host_pulls(monkeypatch):
    monkeypatch.setattr(nfc, 'PROGRESS_INTERVAL', 0)
    puller, vim, _fake = setup()
    vim.task_states = ['running', 'running', 'running', 'success']

    puller.import_image(stream_image(), [url()], TARGET)

    progress = [c[2]['percent'] for c in vim.calls
                if c[0] == 'HttpNfcLeaseProgress']
    assert progress[:-1] and set(progress[:-1]) == {50}
    assert progress[-1] == 100


def test_lease_without_pull_mode_falls_back_and_cleans_up():
    puller, vim, fake = setup()
    vim.pull_mode = False

    with pytest.raises(pull.NotPulled, match='pullModeSupported'):
        puller.import_image(stream_image(), [url()], TARGET)
    assert 'AcquireGenericServiceTicket' not in vim.methods()
    assert_cleaned_up(vim, fake)


def test_not_supported_falls_back_and_cleans_up():
    from oslo_vmware import exceptions as vexc
    puller, vim, fake = setup()
    vim.fail['HttpNfcLeasePullFromUrls_Task'] = vexc.VimFaultException(
        ['NotSupported'], 'not supported')

    with pytest.raises(pull.NotPulled, match='refused to pull'):
        puller.import_image(stream_image(), [url()], TARGET)
    assert_cleaned_up(vim, fake)


def test_capacity_other_than_glances_is_refused():
    puller, vim, fake = setup()
    vim.capacity = 2 * GiB

    with pytest.raises(pull.NotPulled, match='capacity'):
        puller.import_image(stream_image(virtual_size=GiB), [url()], TARGET)
    # Checked once the import ended (vSphere sizes the disk then): the
    # completed VM is destroyed.
    assert vim.methods().index('HttpNfcLeaseComplete') < \
        vim.methods().index('Destroy_Task')
    assert not vim.vm_exists


def test_lease_in_error_after_the_pull_is_not_completed():
    puller, vim, fake = setup()
    original = vim.invoke_util
    pulled = []

    def invoke_util(module, function, ref, name, **kw):
        if ref == 'task-pull':
            pulled.append(True)
        if ref == 'lease-1' and name == 'state' and pulled:
            return 'error'
        return original(module, function, ref, name, **kw)

    vim.invoke_util = invoke_util
    with pytest.raises(pull.NotPulled, match='lease is error'):
        puller.import_image(stream_image(), [url()], TARGET)
    assert_cleaned_up(vim, fake)


def test_failing_finish_destroys_the_vm():
    puller, vim, fake = setup()

    def finish(vm):
        raise RuntimeError('UnregisterVM failed')

    with pytest.raises(pull.NotPulled, match='UnregisterVM failed'):
        puller.import_image(stream_image(), [url()], TARGET, finish)
    assert vim.call('Destroy_Task')[1] == 'vm-1'


def test_vcenter_before_6_7_is_not_asked():
    puller, vim, _fake = setup(api_version='6.5')
    locations = []

    with pytest.raises(pull.NotPulled, match='older than 6.7'):
        puller.import_image(stream_image(), lambda: locations.append(1),
                            TARGET)
    assert vim.calls == [] and locations == []


@pytest.mark.parametrize('location,reason', [
    (url(host='other-vc.example.org'), 'other-vc'),
    (url('elsewhere/' + IMG), 'elsewhere'),
    (url('openstack_glance/another-image'), 'not named after image'),
])
def test_refused_locations_create_nothing(location, reason):
    puller, vim, _fake = setup()

    with pytest.raises(pull.NotPulled, match=reason):
        puller.import_image(stream_image(), [location], TARGET)
    assert vim.calls == []


def test_location_of_another_size_is_refused():
    puller, vim, _fake = setup(image_size=SIZE + 1)

    with pytest.raises(pull.NotPulled, match='Glance says'):
        puller.import_image(stream_image(), [url()], TARGET)
    assert vim.calls == []


@pytest.mark.parametrize('kw', [
    {'disk_type': 'preallocated'}, {'disk_type': 'sparse'},
    {'disk_format': 'iso'}, {'size': None},
])
def test_only_imported_images_with_a_size_are_pulled(kw):
    puller, vim, _fake = setup()
    with pytest.raises(pull.NotPulled):
        puller.import_image(stream_image(**kw), [url()], TARGET)
    assert vim.calls == []


# The OVA's disk.

OVF = '''<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
          xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References>
    <File ovf:id="file1" ovf:href="disk-0.vmdk"%s/>
  </References>
  <DiskSection><Info>disks</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="1"/>
  </DiskSection>
</Envelope>
'''


def make_ova(members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=tarfile.USTAR_FORMAT) \
            as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


DISK = b'KDMV' + b'\0' * (2 * 1024 * 1024)


def read_member(members):
    data = make_ova(members)
    fake = FakeFiles(glance_file(size=len(data)))
    dsfile = paths.DatastoreFile('DC1', 'ds1', 'openstack_glance/' + IMG)
    fake.data = {fake.key(dsfile): data}
    return ova.disk_member(fake, dsfile, len(data)), fake


def test_ova_disk_is_found_reading_only_headers():
    (name, size, read), fake = read_member([
        ('appliance.ovf', OVF.encode() % b''), ('appliance.mf', b'x' * 100),
        ('disk-0.vmdk', DISK)])
    assert (name, size) == ('disk-0.vmdk', len(DISK))
    assert read <= 2 * ova.BLOCK
    assert all(length <= ova.BLOCK for _op, _off, length in fake.ops)


@pytest.mark.parametrize('members,reason', [
    ([('a.ovf', OVF.encode() % b' ovf:compression="gzip"'),
      ('disk-0.vmdk', DISK)], 'compressed'),
    ([('a.ovf', OVF.encode() % b''), ('disk-1.vmdk', DISK)],
     'not in the archive'),
    ([('disk-0.vmdk', DISK)], 'no OVF'),
    ([('a.ovf', b'<Envelope')], 'not XML'),
])
def test_unimportable_ovas_are_refused(members, reason):
    with pytest.raises(ova.NotAnImportableOVA, match=reason):
        read_member(members)


def test_not_a_tar_is_refused():
    data = b'not a tar' * 200
    fake = FakeFiles(glance_file(size=len(data)))
    dsfile = paths.DatastoreFile('DC1', 'ds1', 'openstack_glance/' + IMG)
    fake.data = {fake.key(dsfile): data}
    with pytest.raises(ova.NotAnImportableOVA):
        ova.disk_member(fake, dsfile, len(data))


def test_ova_pull_names_the_member():
    data = make_ova([('a.ovf', OVF.encode() % b''), ('disk-0.vmdk', DISK)])
    puller, vim, _fake = setup(image_size=len(data), data=data)

    puller.import_image(stream_image(size=len(data), container_format='ova',
                                     disk_type='preallocated'),
                        [url()], TARGET)

    [source] = vim.call('HttpNfcLeasePullFromUrls_Task')[2]['files']
    assert (source.memberName, source.size) == ('disk-0.vmdk', len(DISK))


# Tickets stay out of suds' logs.

@pytest.mark.parametrize('message', [
    '<soapenv:Body><AcquireGenericServiceTicketResponse><returnval>'
    '<id>%s</id><hostName>vc</hostName></returnval>' % TICKET,
    '<httpHeaders><key>Cookie</key><value>vmware_cgi_ticket=%s</value>'
    % TICKET,
])
def test_tickets_are_redacted_from_soap_logs(message):
    record = logging.LogRecord('suds.client', logging.DEBUG, __file__, 1,
                               message, None, None)
    redaction.RedactSecrets().filter(record)
    assert TICKET not in record.getMessage()
