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

"""Where a file lives in vSphere: datacenter, datastore and path."""

import dataclasses
import posixpath
import re

_DS_PATH_RE = re.compile(r'^\[([^\]]+)\] ?(.*)$')


class InvalidPath(ValueError):
    """A datastore path that is malformed or tries to leave its directory."""


def split_clean(path):
    """Split a datastore-relative path into components, refusing tricks.

    Empty, ``.`` and ``..`` components, backslashes and control characters
    are refused rather than normalised away: a path that needs normalising
    did not come from us.
    """
    if not isinstance(path, str) or not path:
        raise InvalidPath('empty datastore path')
    if '\\' in path or any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise InvalidPath('datastore path %r contains a backslash or a '
                          'control character' % path)
    parts = path.strip('/').split('/')
    for part in parts:
        if part in ('', '.', '..'):
            raise InvalidPath('datastore path %r has an empty, "." or ".." '
                              'component' % path)
    return parts


@dataclasses.dataclass(frozen=True)
class DatastoreFile:
    """A file (or directory) on a datastore of a datacenter.

    ``path`` is relative to the datastore root, ``/``-separated, without
    leading or trailing slash, and never contains ``.`` or ``..``.
    """

    datacenter: str
    datastore: str
    path: str

    def __post_init__(self):
        if not self.datacenter:
            raise InvalidPath('datacenter path is empty')
        if not self.datastore or ']' in self.datastore:
            raise InvalidPath('invalid datastore name %r' % self.datastore)
        object.__setattr__(self, 'path', '/'.join(split_clean(self.path)))

    @classmethod
    def from_ds_path(cls, datacenter, ds_path):
        """Parse vSphere's ``[datastore] dir/file`` notation."""
        match = _DS_PATH_RE.match(ds_path or '')
        if not match:
            raise InvalidPath('%r is not a "[datastore] path"' % ds_path)
        return cls(datacenter, match.group(1), match.group(2))

    @property
    def ds_path(self):
        """The ``[datastore] dir/file`` form vSphere's API expects."""
        return '[%s] %s' % (self.datastore, self.path)

    @property
    def name(self):
        return posixpath.basename(self.path)

    @property
    def dirname(self):
        return posixpath.dirname(self.path)

    def parent(self):
        return dataclasses.replace(self, path=self.dirname)

    def child(self, name):
        """The entry ``name`` of this directory; one component only."""
        if split_clean(name) != [name]:
            raise InvalidPath('%r is not a single file name' % (name,))
        return dataclasses.replace(self, path=self.path + '/' + name)

    def sibling(self, name):
        return self.parent().child(name)

    def __str__(self):
        return '%s (datacenter %s)' % (self.ds_path, self.datacenter)
