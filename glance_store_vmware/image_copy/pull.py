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

"""Imports of streamOptimized and OVA images that the ESXi host pulls
from the image's datastore itself.

vSphere cannot convert a streamOptimized disk (an OVA holds one) with a
datastore copy: it must be imported through an NFC lease, and Nova and
Cinder upload every byte into the lease themselves.  Here the caller's
import lease (its own ``ImportVApp`` spec, so the VM is what its own path
would make) is filled by ``HttpNfcLeasePullFromUrls_Task`` from the
image's ``vsphere://`` location, read by the host over vCenter's
``/folder``: no image byte crosses the compute or volume node (for an
OVA, its tar headers and OVF descriptor, a few KiB, are read to find the
disk).

What the host is given to read the file: a generic service ticket for
exactly that URL and ``httpGet``, which vCenter accepts once and only for
a short while (see ``nfc.service_ticket``), and vCenter's certificate
thumbprint, taken over this node's verified connection.

The location passes the same policy as a datastore copy
(``policy.LocationChooser``: this vCenter, an allowed datastore, the
image directory, a file named after the image and of Glance's size).
Any failure after the lease exists aborts it and destroys the
half-imported VM; the caller then uses its own upload, with the reason
(``NotPulled``).
"""

import dataclasses

from oslo_vmware import vim_util

from glance_store_vmware.image_copy import image as image_mod
from glance_store_vmware.image_copy import ova
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import nfc

DEFAULT_TIMEOUT = 7200


class NotPulled(Exception):
    """The host did not pull the image; the message says why.  Nothing
    of the attempt is left in vSphere."""


@dataclasses.dataclass(frozen=True)
class ImportTarget:
    """Where the caller's own upload would import the image: the
    ``ImportVApp`` arguments."""

    resource_pool: object
    vm_folder: object
    import_spec: object


class ImagePuller:
    """Imports images into leases by host pulls on one vCenter.

    ``vc`` is a ``vsphere.connection.VCenter``; ``chooser`` the caller's
    ``policy.LocationChooser``; ``timeout`` bounds each pull, in seconds.
    Tasks are polled as ``vc.files`` polls them.
    """

    def __init__(self, vc, chooser, *, timeout=DEFAULT_TIMEOUT):
        self._vc = vc
        self._chooser = chooser
        self._timeout = timeout

    @property
    def _session(self):
        return self._vc.session

    def import_image(self, image, locations, target, finish=None):
        """Import ``image`` into a lease the host fills from the image's
        location; returns ``finish(vm)`` (default: the VM), called once
        the lease completed.

        ``locations`` is an iterable of location URLs or a callable
        returning one, called only if a pull is possible.  Raises
        ``NotPulled`` with the reason; by then, whatever the attempt
        created (the lease, the VM and its files) is gone.
        """
        try:
            nfc.check_pull_api(self._session)
        except errors.VSphereError as e:
            raise NotPulled(str(e)) from None
        reasons = []
        source = self._chooser.choose(
            image, locations, reasons,
            unsupported=image_mod.Image.location_pull_unsupported)
        if source is None:
            raise NotPulled('; '.join(reasons))
        url = self._vc.http.url(source)
        try:
            member, size = self._member(image, source)
            thumbprint = nfc.server_thumbprint(
                self._session.host, self._session.port,
                self._session.verify, self._session.timeout)
            lease = nfc.ImportLease.create(
                self._session, self._vc.files, target.resource_pool,
                target.vm_folder, target.import_spec,
                poll_interval=self._vc.files.max_poll_interval)
        except (errors.VSphereError, ova.NotAnImportableOVA) as e:
            raise NotPulled(errors.describe(e)) from None
        try:
            vm = self._pull(image, lease, url, size, thumbprint, member)
        except Exception as e:
            self._session.log.warning(
                'Image %s: the host\'s pull from %s failed, removing the '
                'half-imported VM: %s', image.id, source,
                errors.describe(e))
            self._clean_up(lease)
            raise NotPulled('the host\'s pull from %s failed: %s'
                            % (source, errors.describe(e))) from None
        except BaseException:
            self._clean_up(lease)
            raise
        self._session.log.info('Image %s imported by the host\'s pull from '
                               '%s', image.id, source)
        if finish is None:
            return vm
        try:
            return finish(vm)
        except Exception as e:
            self._destroy_quietly(vm)
            raise NotPulled('after the pull: %s' % errors.describe(e)) \
                from None

    def _member(self, image, source):
        """``(member name, size)`` the host reads from the location: the
        OVA's disk, or the whole file."""
        if image.container_format != 'ova':
            return None, image.size
        name, size, read = ova.disk_member(self._vc.http, source,
                                           image.size)
        self._session.log.debug('Image %s: the OVA\'s disk is %r (%d bytes); '
                                'found by reading %d bytes', image.id, name,
                                size, read)
        return name, size

    def _pull(self, image, lease, url, size, thumbprint, member):
        lease.wait_ready()
        lease.check_pull_mode()
        # Acquired last: the ticket's short life starts at the pull.
        headers = {'Cookie': nfc.ticket_cookie(
            nfc.service_ticket(self._session, url))}
        lease.pull([lease.source_file(url=url, size=size,
                                      thumbprint=thumbprint,
                                      headers=headers,
                                      member_name=member)],
                   self._timeout)
        lease.check_ready()
        lease.complete()
        # vSphere gives the disk its imported capacity as the import ends;
        # a wrong one fails here, and the VM is destroyed.
        self._check_capacity(image, lease.vm)
        return lease.vm

    def _check_capacity(self, image, vm):
        # The host checked the bytes it read against the size; the disk
        # it made must also have the capacity Glance computed at upload.
        expected = image.virtual_size
        if not expected:
            return
        capacity = self._disk_capacity(vm)
        if capacity and capacity != expected:
            raise errors.VSphereError(
                'the imported disk has a capacity of %d bytes, Glance '
                'says %d' % (capacity, expected))

    def _disk_capacity(self, vm):
        devices = self._session.invoke_util(
            vim_util, 'get_object_property', vm, 'config.hardware.device')
        for device in getattr(devices, 'VirtualDevice', devices) or []:
            if type(device).__name__ == 'VirtualDisk':
                in_bytes = getattr(device, 'capacityInBytes', None)
                if in_bytes:
                    return int(in_bytes)
                return int(getattr(device, 'capacityInKB', 0) or 0) * 1024
        return None

    def _clean_up(self, lease):
        lease.abort()
        vm = lease.vm or lease.entity_quietly()
        if vm is not None:
            self._destroy_quietly(vm)

    def _destroy_quietly(self, vm):
        try:
            nfc.destroy_vm(self._session, self._vc.files, vm)
        except Exception as e:
            self._session.log.error(
                'Could not remove the half-imported VM %s: %s',
                vim_util.get_moref_value(vm), errors.describe(e))
