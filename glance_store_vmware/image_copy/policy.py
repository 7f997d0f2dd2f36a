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

"""Which ``vsphere://`` location of an image may be copied.

A location is untrusted input: Glance lets image owners add locations.  It
is copied only if it names this vCenter (or a configured alias of it), an
allowed datastore, a file directly in the image directory named after the
image (as Glance's store writes it), and that file has the size Glance
recorded.  Size is the only content check: hashing would read every byte
through this process and defeat the purpose.
"""

import dataclasses
import logging

from glance_store_vmware import location as loc_mod
from glance_store_vmware import opts
from glance_store_vmware.vsphere import errors

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """Which locations may be copied.

    ``host``/``port`` are the vCenter the session is connected to;
    ``host_aliases`` are other ``(host, port)`` names of that same vCenter
    as Glance may have written them.  ``datastores`` are allowed
    ``(datacenter, datastore or datastore cluster)`` pairs; empty allows
    every datastore of this vCenter.
    """

    host: str
    port: int = 443
    host_aliases: tuple = ()
    image_dir: str = opts.STORE_IMAGE_DIR_DEFAULT
    datastores: tuple = ()
    require_image_id_name: bool = True

    @classmethod
    def from_options(cls, host, port, *, host_aliases, image_dir,
                     datastores, require_image_id_name, datastores_option,
                     aliases_option, **more):
        """From option values as operators write them; ValueError naming
        ``datastores_option`` or ``aliases_option`` and the entry at
        fault.  ``more`` are the
        fields of a subclass."""
        entries = opts.parse_datastore_entries(datastores or [],
                                               datastores_option)
        return cls(
            host=host, port=port,
            host_aliases=loc_mod.parse_host_aliases(host_aliases, port,
                                                    aliases_option),
            image_dir=image_dir,
            datastores=tuple((dc, name) for dc, name, _weight in entries),
            require_image_id_name=require_image_id_name, **more)


class LocationChooser:
    """Picks the location of an image that may be copied.

    ``inventory`` resolves allowed datastore clusters; ``size`` is a
    callable giving a datastore file's size (None if it does not exist).
    """

    def __init__(self, config, inventory, size):
        self._config = config
        self._inventory = inventory
        self._size = size

    def check(self, image, url):
        """The datastore file a location may be copied from.

        Raises ``InvalidLocation`` with the reason otherwise.
        """
        location = loc_mod.ImageLocation.parse(url)
        cfg = self._config
        if cfg.datastores:
            allowed = self._allowed_datastores
        else:
            def allowed():
                return {(location.file.datacenter, location.file.datastore)}
        policy = loc_mod.LocationPolicy(cfg.host, cfg.port, cfg.image_dir,
                                        allowed, aliases=cfg.host_aliases)
        dsfile = policy.check(location)
        if cfg.require_image_id_name and dsfile.name != image.id:
            # A location naming another image's file would copy data its
            # owner never shared.
            raise loc_mod.InvalidLocation(
                'file %r is not named after image %s' % (dsfile.path,
                                                         image.id))
        return dsfile

    def _allowed_datastores(self):
        allowed = set()
        for dc_path, name in self._config.datastores:
            try:
                members = self._inventory.resolve(dc_path, name)
            except errors.VSphereError as e:
                LOG.warning('Allowed image datastore %s:%s: %s', dc_path,
                            name, e)
                continue
            allowed.update((dc_path, member) for member in members)
        return allowed

    def choose(self, image, locations, reasons, *, unsupported=None):
        """The first location of ``image`` that may be copied, as a
        datastore file whose size is Glance's; None if there is none, with
        why appended to ``reasons``.

        ``locations`` is an iterable of URLs or a callable returning one,
        called only if the image itself can be used: ``unsupported(image)``
        (default: ``Image.location_copy_unsupported``) says why not.
        """
        unsupported = (unsupported or type(image).location_copy_unsupported)(
            image)
        if unsupported:
            reasons.append(unsupported)
            return None
        try:
            urls = list(locations() if callable(locations) else locations)
        except Exception as e:
            LOG.warning('Finding the locations of image %s failed: %s',
                        image.id, e)
            reasons.append('finding the locations failed: %s' % e)
            return None
        candidates = [u for u in urls
                      if isinstance(u, str)
                      and u.startswith(loc_mod.SCHEME + '://')]
        if not candidates:
            reasons.append('no vsphere:// location')
            return None
        for url in candidates:
            try:
                dsfile = self.check(image, url)
            except loc_mod.InvalidLocation as e:
                LOG.warning('Image %s: refusing location %s: %s', image.id,
                            url, e)
                reasons.append('refused %s: %s' % (url, e))
                continue
            try:
                size = self._size(dsfile)
            except errors.VSphereError as e:
                reasons.append('cannot read %s: %s' % (dsfile, e))
                continue
            if size is None:
                reasons.append('%s does not exist' % (dsfile,))
            elif size != image.size:
                reasons.append('%s has %d bytes, Glance says %d'
                               % (dsfile, size, image.size))
            else:
                return dsfile
        return None
