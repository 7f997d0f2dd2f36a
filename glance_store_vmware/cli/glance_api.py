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

"""Glance's image API as the command asks it: every image, and every
location of each.

Credentials are keystoneauth options in a section of ours: in a
glance-api.conf ``[vsphere_glance_api]``, in a nova.conf the image
handler's ``[vsphere_image_handler]``.  Listing every project's images
needs the ``admin`` role; reading locations
(``GET /v2/images/{id}/locations``, Glance 2024.2 and later) needs the
``service`` role.  Where the locations call fails, an image record that
carries ``locations`` (``show_multiple_locations``) still gives them all;
one with only ``direct_url`` gives one and is marked incomplete.
"""

import dataclasses
import urllib.parse

from keystoneauth1 import loading as ks_loading

from glance_store_vmware.image_copy import discovery

PAGE_SIZE = 200


class NotConfigured(Exception):
    """The configuration gives no credentials for Glance's API."""


class GlanceError(Exception):
    """Glance did not answer as asked."""


@dataclasses.dataclass(frozen=True)
class ImageLocations:
    """An image and its locations (dicts with ``url`` and ``metadata``);
    ``complete`` is False when only some of them could be learnt, and
    ``problem`` says why."""

    image: dict
    locations: list
    complete: bool = True
    problem: str | None = None

    @property
    def id(self):
        return self.image.get('id')


def configured(conf, group):
    """Whether ``group`` of ``conf`` sets keystone credentials."""
    return bool(group and conf[group].auth_type)


def from_conf(conf, group):
    """A client authenticated with the keystone options of ``group``;
    NotConfigured if they are not set."""
    if not configured(conf, group):
        raise NotConfigured('no credentials for Glance\'s API: set '
                            'auth_type and the keystone options of '
                            'section [%s]' % group)
    auth = ks_loading.load_auth_from_conf_options(conf, group)
    session = ks_loading.load_session_from_conf_options(conf, group,
                                                        auth=auth)
    adapter = ks_loading.load_adapter_from_conf_options(
        conf, group, session=session, auth=auth)
    return GlanceImages(adapter)


class GlanceImages:
    """Images and locations over a keystoneauth ``Adapter`` for the
    ``image`` service."""

    def __init__(self, adapter, page_size=PAGE_SIZE):
        self._adapter = adapter
        self._page_size = page_size
        self._api = discovery.GlanceLocationsAPI(adapter)

    def roles(self):
        """The role names of the authenticated user."""
        try:
            access = self._adapter.session.auth.get_access(
                self._adapter.session)
        except Exception as e:
            raise GlanceError('cannot authenticate: %s' % e) from None
        return set(getattr(access, 'role_names', None) or [])

    def _get(self, path):
        try:
            resp = self._adapter.get(path, raise_exc=False)
        except Exception as e:
            raise GlanceError('GET %s failed: %s' % (path, e)) from None
        if resp.status_code != 200:
            raise GlanceError('GET %s answered HTTP %d' % (
                path, resp.status_code))
        try:
            return resp.json()
        except ValueError:
            raise GlanceError('GET %s answered no JSON' % path) from None

    def images(self, limit=None):
        """Every image the user can see, hidden and community ones
        included, each once (Glance leaves both out of a plain list)."""
        seen = set()
        for hidden in ('false', 'true'):
            query = {'limit': limit or self._page_size, 'visibility': 'all',
                     'os_hidden': hidden}
            path = '/v2/images?' + urllib.parse.urlencode(query)
            while path:
                body = self._get(path)
                for image in body.get('images') or []:
                    if image.get('id') not in seen:
                        seen.add(image.get('id'))
                        yield image
                if limit:
                    return
                path = body.get('next')

    def entries(self, image_id):
        """The locations API's answer for one image, or
        ``discovery.LocationsUnavailable``."""
        return self._api.entries(image_id)

    def locations(self, image):
        """The image's locations as an ``ImageLocations``."""
        try:
            return ImageLocations(image, self.entries(image['id']))
        except discovery.LocationsUnavailable as e:
            problem = str(e)
        if 'locations' in image:
            # show_multiple_locations: the record has them all.
            return ImageLocations(image, [
                entry for entry in image['locations'] or []
                if isinstance(entry, dict) and entry.get('url')])
        urls = discovery.record_locations(image)
        return ImageLocations(image, [{'url': u, 'metadata': {}}
                                      for u in urls],
                              complete=False, problem=problem)
