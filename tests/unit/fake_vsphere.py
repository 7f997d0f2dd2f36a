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

"""An in-memory vSphere for unit tests of the image copies."""

from glance_store_vmware.vsphere import errors

IMG = '7b0ee2d0-1b0c-4d2b-9c2c-1d2a3f4e5a6b'
SIZE = 4 * 1024 * 1024
VC = 'vc.example.org'


def url(path='openstack_glance/' + IMG, host=VC, ds='ds1', dc='DC1'):
    return 'vsphere://%s/folder/%s?dcPath=%s&dsName=%s' % (host, path, dc,
                                                          ds)


def glance_file(ds='ds1', size=SIZE):
    return {('DC1', ds, 'openstack_glance/' + IMG): size}


class Locations:
    """A locations callable that remembers whether Glance was asked."""

    def __init__(self, *urls):
        self.urls = list(urls)
        self.asked = 0

    def __call__(self):
        self.asked += 1
        return self.urls


class FakeVSphere:
    """Datastore files as ``{(datacenter, datastore, path): size}``, with
    the operations the handler uses; records every call."""

    def __init__(self, files=None, datastores=('ds1', 'ds2', 'ds3')):
        self.files = dict(files or {})
        self.stores = {name: 'ref-' + name for name in datastores}
        self.ops = []
        self.fail = {}  # operation name -> exception
        self.short_by = 0
        self.break_with = None

    @staticmethod
    def key(f):
        return (f.datacenter, f.datastore, f.path)

    def _op(self, name, *args):
        self.ops.append((name,) + tuple(str(a) for a in args))
        if name in self.fail:
            raise self.fail[name]

    # DatastoreHTTP
    def size(self, f):
        if self.key(f) in self.files:
            return self.files[self.key(f)]
        return None

    def close(self):
        pass

    # Inventory
    def datastores(self, dc):
        return dict(self.stores)

    def resolve(self, dc, name):
        if name == 'pod1':
            return {'ds2': 'ref-ds2', 'ds3': 'ref-ds3'}
        if name not in self.stores:
            raise errors.NotFound(name)
        return {name: self.stores[name]}

    # DatastoreFiles
    def make_directory(self, f):
        self._op('mkdir', f.path)

    def delete(self, f):
        self._op('delete', f.path)
        k = self.key(f)
        gone = [x for x in self.files
                if x == k or (x[:2] == k[:2] and x[2].startswith(k[2] + '/'))]
        if not gone:
            raise errors.NotFound(str(f))
        for x in gone:
            del self.files[x]

    def delete_quietly(self, f):
        try:
            self.delete(f)
        except errors.NotFound:
            pass

    def copy(self, src, dst, force=False):
        self._op('copy', src.ds_path, dst.ds_path)
        if self.key(src) not in self.files:
            raise errors.NotFound(str(src))
        self.files[self.key(dst)] = self.files[self.key(src)] - self.short_by
        if self.break_with is not None:
            written, error = self.break_with
            self.files[self.key(dst)] = written
            raise error

    def copies_come_out_short(self, by):
        """Every later copy writes ``by`` bytes less than its source."""
        self.short_by = by

    def copies_break(self, written, error):
        """Every later copy writes ``written`` bytes, then fails."""
        self.break_with = (written, error)

    def copy_virtual_disk(self, src, dst, force=False):
        self._op('copy_virtual_disk', src.ds_path, dst.ds_path)
        self.files[self.key(dst)] = 1
        self.files[self.key(dst.sibling(dst.name.replace(
            '.vmdk', '-flat.vmdk')))] = 8 * SIZE

    def create_virtual_disk(self, f, capacity_kb, adapter, disk_type):
        self._op('create_virtual_disk', f.path, capacity_kb, adapter,
                 disk_type)
        self.files[self.key(f)] = 1
        self.files[self.key(f.sibling(f.name.replace(
            '.vmdk', '-flat.vmdk')))] = capacity_kb * 1024

    def move(self, src, dst, force=False):
        self._op('move', src.path, dst.path)
        s, d = self.key(src), self.key(dst)
        if any(x[:2] == d[:2] and (x[2] == d[2] or x[2].startswith(d[2] +
                                                                    '/'))
               for x in self.files):
            raise errors.AlreadyExists(str(dst))
        for x in [x for x in self.files if x[:2] == s[:2]
                  and x[2].startswith(s[2] + '/')]:
            self.files[d[:2] + (d[2] + x[2][len(s[2]):],)] = \
                self.files.pop(x)

    def under(self, prefix, ds='ds2'):
        return sorted(p for dc, d, p in self.files
                      if d == ds and p.startswith(prefix))
