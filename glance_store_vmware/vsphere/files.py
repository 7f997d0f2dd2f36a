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

"""Datastore file operations through vCenter's FileManager,
VirtualDiskManager and datastore browsers, each waiting for its task and
translating faults."""

import dataclasses
import datetime
import time

from oslo_vmware import exceptions as vexc
from oslo_vmware import vim_util

from glance_store_vmware.vsphere import errors

_FAULTS = {
    'FileNotFound': errors.NotFound,
    'FileAlreadyExists': errors.AlreadyExists,
    'DuplicateName': errors.AlreadyExists,
}


@dataclasses.dataclass(frozen=True)
class DirectoryEntry:
    """A file found in a datastore directory.

    ``modified`` is the datastore's modification time (timezone-aware,
    UTC), or None if the datastore did not report one.
    """

    name: str
    size: int | None
    modified: datetime.datetime | None


class DatastoreFiles:
    """File operations on the datastores of one vCenter."""

    def __init__(self, session, inventory, *, max_poll_interval=5.0):
        self._session = session
        self._inventory = inventory
        self._max_poll_interval = max_poll_interval

    @property
    def max_poll_interval(self):
        """The longest pause between two polls of a task, in seconds."""
        return self._max_poll_interval

    @property
    def _file_manager(self):
        return self._session.service_content.fileManager

    @property
    def _disk_manager(self):
        return self._session.service_content.virtualDiskManager

    def make_directory(self, dsdir):
        """Create a directory and its parents; an existing one is fine."""
        try:
            self._call('MakeDirectory', self._file_manager, dsdir,
                       lambda dc: dict(name=dsdir.ds_path,
                                       datacenter=dc(dsdir.datacenter),
                                       createParentDirectories=True))
        except errors.AlreadyExists:
            pass

    def delete(self, dsfile):
        """Delete a file or directory; NotFound if it is not there."""
        self._task('DeleteDatastoreFile_Task', self._file_manager, dsfile,
                   lambda dc: dict(name=dsfile.ds_path,
                                   datacenter=dc(dsfile.datacenter)))

    def delete_quietly(self, dsfile):
        """Best-effort cleanup: log, never raise."""
        try:
            self.delete(dsfile)
        except errors.NotFound:
            pass
        except Exception as e:
            self._session.log.warning('could not remove %s: %s', dsfile, e)

    def move(self, src, dst, force=False):
        """Rename ``src`` to ``dst``; AlreadyExists unless ``force``."""
        self._file_task('MoveDatastoreFile_Task', src, dst, force)

    def copy(self, src, dst, force=False):
        """Server-side copy of a file, across datastores and datacenters."""
        self._file_task('CopyDatastoreFile_Task', src, dst, force)

    def _file_task(self, method, src, dst, force):
        self._task(method, self._file_manager, dst,
                   lambda dc: dict(sourceName=src.ds_path,
                                   sourceDatacenter=dc(src.datacenter),
                                   destinationName=dst.ds_path,
                                   destinationDatacenter=dc(dst.datacenter),
                                   force=force))

    def copy_virtual_disk(self, src, dst, force=False):
        """Server-side copy of a virtual disk (descriptor and extents)."""
        self._task('CopyVirtualDisk_Task', self._disk_manager, dst,
                   lambda dc: dict(sourceName=src.ds_path,
                                   sourceDatacenter=dc(src.datacenter),
                                   destName=dst.ds_path,
                                   destDatacenter=dc(dst.datacenter),
                                   force=force))

    def create_virtual_disk(self, dsfile, capacity_kb, adapter_type,
                            disk_type):
        """Create a virtual disk (descriptor and extent) of a given size.

        Used to obtain a descriptor whose extent is then replaced by a
        copied flat image.
        """
        factory = self._session.vim.client.factory
        spec = factory.create('ns0:FileBackedVirtualDiskSpec')
        spec.adapterType = adapter_type
        spec.diskType = disk_type
        spec.capacityKb = capacity_kb
        self._task('CreateVirtualDisk_Task', self._disk_manager, dsfile,
                   lambda dc: dict(name=dsfile.ds_path,
                                   datacenter=dc(dsfile.datacenter),
                                   spec=spec))

    def list_directory(self, dsdir):
        """The files directly in a datastore directory, with their sizes
        and modification times, as ``[DirectoryEntry]``; sub-directories
        are left out.  NotFound if the directory or datastore is missing.

        One SearchDatastore_Task of the datastore's browser.
        """
        def browser():
            datastore = self._inventory.datastores(dsdir.datacenter).get(
                dsdir.datastore)
            if datastore is None:
                raise errors.NotFound('datacenter %r has no datastore %r'
                                      % (dsdir.datacenter, dsdir.datastore))
            try:
                return self._session.invoke_util(
                    vim_util, 'get_object_property', datastore, 'browser')
            except vexc.VimException as e:
                raise _translate(e, 'SearchDatastore_Task', dsdir) from None
        factory = self._session.vim.client.factory
        spec = factory.create('ns0:HostDatastoreBrowserSearchSpec')
        details = factory.create('ns0:FileQueryFlags')
        details.fileSize = True
        details.modification = True
        details.fileType = True     # tells directories (FolderFileInfo)
        details.fileOwner = False
        spec.details = details
        result = self._task('SearchDatastore_Task',
                            self._inventory.refreshing(browser), dsdir,
                            lambda _dc: dict(datastorePath=dsdir.ds_path,
                                             searchSpec=spec))
        entries = []
        for info in getattr(result, 'file', None) or []:
            if type(info).__name__ == 'FolderFileInfo':
                continue
            size = getattr(info, 'fileSize', None)
            entries.append(DirectoryEntry(
                name=str(info.path),
                size=None if size is None else int(size),
                modified=utc(getattr(info, 'modification', None))))
        return entries

    def server_time(self):
        """vCenter's own clock (ServiceInstance.CurrentTime), timezone-aware
        UTC: what datastore modification times are compared with."""
        instance = vim_util.get_moref('ServiceInstance', 'ServiceInstance')
        now = utc(self._call('CurrentTime', instance, 'the vCenter clock',
                             lambda _dc: {}))
        if now is None:
            raise errors.VSphereError('vCenter %s sent no current time'
                                      % self._session.host)
        return now

    def _call(self, method, target, subject, arguments):
        """Start ``method``; ``arguments(datacenter_ref_of)`` builds its
        keyword arguments, again with fresh references if vCenter says a
        cached one is gone."""
        def call():
            kwargs = arguments(self._inventory.datacenter)
            try:
                return self._session.invoke(method, target, **kwargs)
            except vexc.VimException as e:
                raise _translate(e, method, subject) from None
        return self._inventory.refreshing(call)

    def _task(self, method, target, subject, arguments):
        task = self._call(method, target, subject, arguments)
        return self.wait_for_task(task, method, subject)

    def wait_for_task(self, task, method, subject):
        """Poll a task: at once, then backing off to the poll interval.

        Datastore file tasks usually finish in milliseconds; a fixed
        multi-second interval would dominate every upload.
        """
        delay = 0.02
        while True:
            try:
                info = self._session.invoke_util(
                    vim_util, 'get_object_property', task, 'info',
                    skip_op_id=True)
            except vexc.VimException as e:
                raise _translate(e, method, subject) from None
            if info.state == 'success':
                return getattr(info, 'result', None)
            if info.state == 'error':
                error = getattr(info, 'error', None)
                fault = getattr(error, 'fault', None)
                name = type(fault).__name__ if fault is not None else ''
                message = getattr(error, 'localizedMessage', '') or name
                cls = _FAULTS.get(name, errors.VSphereError)
                raise cls('%s of %s failed: %s' % (method, subject, message))
            time.sleep(delay)
            delay = min(delay * 2, self._max_poll_interval)


def utc(value):
    """A SOAP dateTime as a timezone-aware UTC datetime; one without a
    time zone is taken as UTC, as vSphere means it."""
    if not isinstance(value, datetime.datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def _translate(exc, method, subject):
    names = list(getattr(exc, 'fault_list', None) or [])
    names.append(type(exc).__name__)
    for name in names:
        for fault, cls in _FAULTS.items():
            if name.startswith(fault):
                return cls('%s of %s failed: %s' % (method, subject, exc))
    return errors.VSphereError('%s of %s failed: %s' % (method, subject, exc))
