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

"""Where an image's data is: asking Glance for its locations.

Preferred: ``GET /v2/images/{id}/locations`` (Glance 2024.2 and later),
which Glance answers only for callers with the service role, so image
locations need not be shown to every user.  Otherwise the image record's
``locations`` and ``direct_url``, which Glance shows only with
``show_multiple_locations`` or ``show_image_direct_url``.
"""

import logging

from keystoneauth1 import loading as ks_loading

from glance_store_vmware import opts

LOG = logging.getLogger(__name__)


class LocationsUnavailable(Exception):
    """Glance's locations API did not give the locations."""


class GlanceLocationsAPI:
    """The service-only locations call, over a keystoneauth ``Adapter``
    whose service type is ``image`` (authenticated as a user holding the
    ``service`` role)."""

    def __init__(self, adapter):
        self._adapter = adapter

    def locations(self, image_id):
        """The location URLs of an image, or LocationsUnavailable."""
        try:
            resp = self._adapter.get('/v2/images/%s/locations' % image_id,
                                     raise_exc=False)
        except Exception as e:
            raise LocationsUnavailable(
                'GET locations of image %s failed: %s' % (image_id, e)
            ) from None
        if resp.status_code != 200:
            hint = {403: ' (the configured user needs the service role)',
                    404: ' (Glance older than 2024.2, or no such image)'}
            raise LocationsUnavailable(
                'GET locations of image %s answered HTTP %d%s'
                % (image_id, resp.status_code,
                   hint.get(resp.status_code, '')))
        try:
            body = resp.json()
        except ValueError:
            raise LocationsUnavailable(
                'GET locations of image %s answered no JSON' % image_id
            ) from None
        if isinstance(body, dict):
            body = body.get('locations', [])
        return [entry['url'] for entry in body or []
                if isinstance(entry, dict) and entry.get('url')]


def record_locations(image_record):
    """Location URLs shown in an image record (a dict as Nova's image API
    returns it): ``locations`` first, then ``direct_url``."""
    urls = []
    for entry in image_record.get('locations') or []:
        url = entry.get('url') if isinstance(entry, dict) else None
        if url and url not in urls:
            urls.append(url)
    direct = image_record.get('direct_url')
    if direct and direct not in urls:
        urls.append(direct)
    return urls


def locations_finder(image_id, api=None, record=None):
    """A callable returning the image's locations, asking Glance only when
    called: the service API if configured, else ``record()`` (a callable
    returning the image record)."""
    def find():
        if api is not None:
            try:
                return api.locations(image_id)
            except LocationsUnavailable as e:
                if record is None:
                    raise
                LOG.warning('%s; using the image record instead', e)
        return record_locations(record()) if record is not None else []
    return find


def register_keystone_opts(conf, group):
    """Register the keystoneauth options of the locations API in
    ``group``: a user with the ``service`` role, and how to reach Glance."""
    ks_loading.register_session_conf_options(conf, group)
    ks_loading.register_auth_conf_options(conf, group)
    ks_loading.register_adapter_conf_options(conf, group,
                                             include_deprecated=False)
    conf.set_default('service_type', 'image', group=group)
    # keystoneauth waits forever by default; a hanging Glance must not
    # hold a spawn or a volume creation.
    conf.set_default('timeout', opts.LOCATIONS_API_TIMEOUT, group=group)


def api_from_conf(conf, group):
    """The locations API client configured in ``group``, or None if the
    group sets no ``auth_type``."""
    if not conf[group].auth_type:
        return None
    auth = ks_loading.load_auth_from_conf_options(conf, group)
    sess = ks_loading.load_session_from_conf_options(conf, group, auth=auth)
    adapter = ks_loading.load_adapter_from_conf_options(
        conf, group, session=sess, auth=auth)
    return GlanceLocationsAPI(adapter)
