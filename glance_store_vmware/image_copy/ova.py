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

"""Which member of an OVA on a datastore holds its disk.

An OVA is a tar archive: an OVF descriptor, usually first, then the files
it references.  Nova and Cinder import the OVF's first disk; here the tar
headers and the OVF are read with HTTP range requests over ``/folder``,
a few KiB, never the disk itself, and the import host is told the
member's name.

The OVA is untrusted input (an image owner uploaded it): the reads are
bounded (members looked at, bytes read, OVF size), a compressed or
missing disk file is refused, and a name is only ever compared, never
used as a path.
"""

import io
import tarfile
from xml.etree import ElementTree

from glance_store_vmware.vsphere import errors

BLOCK = 8 * 1024
MAX_MEMBERS = 64
MAX_OVF_SIZE = 1024 * 1024
MAX_READ = 4 * 1024 * 1024
OVF_NS = 'http://schemas.dmtf.org/ovf/envelope/1'


class NotAnImportableOVA(Exception):
    """The OVA's disk cannot be found or imported; says why."""


class RangeReader(io.RawIOBase):
    """A seekable, read-only view of a datastore file of ``size`` bytes,
    read in ``BLOCK`` ranges on demand; at most ``limit`` bytes in all."""

    def __init__(self, http, dsfile, size, limit=MAX_READ):
        super().__init__()
        self._http = http
        self._dsfile = dsfile
        self._size = size
        self._limit = limit
        self._pos = 0
        self._block = (0, b'')
        self.bytes_read = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos,
                io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer):
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        start, data = self._block
        if not start <= self._pos < start + len(data):
            start, data = self._fetch(self._pos, max(want, BLOCK))
        chunk = data[self._pos - start:self._pos - start + want]
        buffer[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def _fetch(self, offset, length):
        length = min(length, self._size - offset)
        if self.bytes_read + length > self._limit:
            raise NotAnImportableOVA('finding the disk would read more than '
                                     '%d bytes of the OVA' % self._limit)
        chunks, _size = self._http.get(self._dsfile, offset, length)
        data = b''.join(chunks)
        self.bytes_read += len(data)
        if len(data) != length:
            raise errors.TransferError('%s: read %d of %d bytes at %d'
                                       % (self._dsfile, len(data), length,
                                          offset))
        self._block = (offset, data)
        return self._block


def disk_member(http, dsfile, size):
    """``(member name, member size, bytes read)`` of the OVA's disk.

    Raises ``NotAnImportableOVA`` with the reason, or ``VSphereError`` if
    the file cannot be read.
    """
    reader = RangeReader(http, dsfile, size)
    try:
        archive = tarfile.open(fileobj=reader, mode='r:')
    except tarfile.TarError as e:
        raise NotAnImportableOVA('not a tar archive: %s' % e) from None
    members = {}
    disk = None
    try:
        for count, member in enumerate(archive, 1):
            if count > MAX_MEMBERS:
                raise NotAnImportableOVA('more than %d members'
                                         % MAX_MEMBERS)
            if not member.isfile():
                continue
            members[member.name] = member
            if disk is None and member.name.endswith('.ovf'):
                disk = _disk_file(archive, member)
            if disk is not None and disk in members:
                break
    except tarfile.TarError as e:
        raise NotAnImportableOVA('broken tar archive: %s' % e) from None
    if disk is None:
        raise NotAnImportableOVA('no OVF descriptor naming a disk')
    member = members.get(disk)
    if member is None:
        raise NotAnImportableOVA('the OVF\'s disk %r is not in the archive'
                                 % disk)
    return member.name, member.size, reader.bytes_read


def _disk_file(archive, member):
    """The file name of the OVF's first disk, as ``get_vmdk_name_from_ovf``
    in Nova and the OVA handling of oslo.vmware pick it."""
    if member.size > MAX_OVF_SIZE:
        raise NotAnImportableOVA('the OVF descriptor has %d bytes, more than '
                                 '%d' % (member.size, MAX_OVF_SIZE))
    text = archive.extractfile(member).read()
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as e:
        raise NotAnImportableOVA('the OVF descriptor is not XML: %s'
                                 % e) from None
    ns = root.tag[1:].split('}')[0] if root.tag.startswith('{') else OVF_NS

    def q(name):
        return '{%s}%s' % (ns, name)

    disk = root.find('./%s/%s' % (q('DiskSection'), q('Disk')))
    if disk is None:
        raise NotAnImportableOVA('the OVF descriptor has no disk')
    file_id = disk.get(q('fileRef'))
    for entry in root.findall('./%s/%s' % (q('References'), q('File'))):
        if entry.get(q('id')) == file_id:
            if entry.get(q('compression')):
                raise NotAnImportableOVA(
                    'the disk file %r is compressed (%s)'
                    % (entry.get(q('href')), entry.get(q('compression'))))
            href = entry.get(q('href'))
            if not href:
                break
            return href
    raise NotAnImportableOVA('the OVF\'s disk refers to no file')
