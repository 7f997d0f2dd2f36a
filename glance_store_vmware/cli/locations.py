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

"""``locations``: Glance's ``vsphere://`` locations as the configured
store would read them.

Run it with the configuration about to be rolled out (say
``vmware_server_host`` changed from the vCenter's address to its name)
before the cut-over.  Every location of every image is checked the way
the store (or Nova's image handler, for a nova.conf) will check it: the
vCenter name and its aliases, the datastores (members of datastore
clusters included), the image directory.  What would be refused is listed
with the reason; a location that would be accepted is asked for (HTTP
HEAD), and a missing file is listed.

Also listed, as the marks of a crafted location: files referenced by more
than one image, and locations whose file is not named after their image.
Glance lets a caller with the service role (or any image member, where
the deprecated ``show_multiple_locations`` is on) add a location naming
any file.  The store is not told which image a location belongs to, so a
download of such an image returns the other image's bytes, and deleting
it deletes the other image's file.
"""

import collections

from glance_store_vmware import location as loc_mod
from glance_store_vmware.cli import deployment
from glance_store_vmware.cli import glance_api
from glance_store_vmware.cli import output
from glance_store_vmware.vsphere import errors

COLUMNS = ('image', 'finding', 'location', 'backend', 'detail')

REFUSED = 'refused'
MISSING = 'missing'
UNKNOWN = 'not checked'
SHARED = 'shared file'
MISNAMED = 'not named after image'
LOCATIONS = 'vsphere_locations'

SUMMARY = {'images': 'images', LOCATIONS: LOCATIONS, 'refused': REFUSED,
           'missing': MISSING, 'not_checked': UNKNOWN,
           'shared_files': SHARED, 'misnamed': MISNAMED}


def run(conf, args, progress):
    try:
        sites = deployment.load(conf, backend=args.backend)
    except LookupError as e:
        raise output.UsageError(str(e)) from None
    if any(site.service == deployment.CINDER for site in sites):
        raise output.UsageError(
            'locations reads a glance-api.conf (the store) or a nova.conf '
            '(the image handler), not a cinder.conf: Glance\'s locations '
            'name Glance\'s store backends, not Cinder\'s')
    for site in sites:
        if site.problems:
            raise output.UsageError('%s: %s' % (site.label, '; '.join(
                '%s (%s)' % p for p in site.problems)))
    group = sites[0].glance_group
    try:
        client = glance_api.from_conf(conf, group)
    except glance_api.NotConfigured as e:
        raise output.UsageError(str(e)) from None
    checker = Checker(sites, progress)
    try:
        report, counts = checker.run(client, args.backend)
    finally:
        checker.close()
    report.summary = counts
    problems = sum(counts[k] for k in ('refused', 'missing', 'not_checked',
                                       'shared_files', 'misnamed'))
    problems += len(counts['problems'])
    return report, output.FINDINGS if problems else output.OK


class Checker:

    def __init__(self, sites, progress):
        self.progress = progress
        self.sites = {site.backend: site for site in sites}
        self.multi = any(site.backend for site in sites)
        self._policies = {}
        self._connections = {}

    def close(self):
        for conn in self._connections.values():
            conn.close()

    def run(self, client, backend_only=None):
        report = output.Report('locations', COLUMNS)
        counts = collections.Counter()
        problems = []
        owners = collections.defaultdict(set)   # file -> image ids
        accepted = []                           # (image id, url, backend)
        try:
            if 'admin' not in client.roles():
                problems.append('the user has no admin role: only the '
                                'images it can see were checked')
            for number, image in enumerate(client.images(), 1):
                if number % 100 == 0:
                    self.progress('checked the locations of %d images',
                                  number)
                counts['images'] += 1
                found = client.locations(image)
                if not found.complete:
                    problems.append('image %s: only some locations known: '
                                    '%s' % (found.id, found.problem))
                for entry in found.locations:
                    url = entry['url']
                    if not url.startswith(loc_mod.SCHEME + '://'):
                        continue
                    store = (entry.get('metadata') or {}).get('store')
                    if backend_only and store != backend_only:
                        continue
                    counts[LOCATIONS] += 1
                    row = self._check(found.id, url, store)
                    if row is None:
                        continue
                    if row[0] == 'ok':
                        accepted.append((found.id, url, row[2], row[3]))
                        owners[row[3]].add(found.id)
                        continue
                    counts[row[0]] += 1
                    report.add(image=found.id, finding=row[0], location=url,
                               backend=row[2], detail=row[1])
        except glance_api.GlanceError as e:
            problems.append('Glance: %s' % e)
        for image_id, url, backend, dsfile in accepted:
            others = owners[dsfile] - {image_id}
            if others:
                counts[SHARED] += 1
                report.add(image=image_id, finding=SHARED, location=url,
                           backend=backend,
                           detail='also referenced by image %s: deleting '
                                  'either image deletes the other\'s data'
                           % ', '.join(sorted(others)))
            if dsfile.name != image_id:
                counts[MISNAMED] += 1
                report.add(image=image_id, finding=MISNAMED, location=url,
                           backend=backend,
                           detail='file %r: the store names files after '
                                  'their image; a location added by hand '
                                  'may name another image\'s file'
                           % dsfile.name)
        summary = {key: counts[k] for key, k in SUMMARY.items()}
        summary['problems'] = problems
        return report, summary

    def _site(self, store):
        if not self.multi:
            return self.sites.get(None)
        if store in self.sites:
            return self.sites[store]
        if store is None and len(self.sites) == 1:
            return next(iter(self.sites.values()))
        return None

    def _check(self, image_id, url, store):
        """``(finding or 'ok', detail, backend, file)``."""
        try:
            location = loc_mod.ImageLocation.parse(url)
        except loc_mod.InvalidLocation as e:
            return (REFUSED, str(e), store, None)
        site = self._site(store)
        if site is None:
            return (REFUSED, 'no vsphere backend %r in this configuration'
                    % store if store else 'the location names no backend, '
                    'and several vsphere backends are configured', store,
                    None)
        backend = site.backend
        try:
            policy = self._policy(site, location)
            dsfile = policy.check(location)
        except loc_mod.InvalidLocation as e:
            return (REFUSED, str(e), backend, None)
        except errors.VSphereError as e:
            return (UNKNOWN, 'cannot look up the datastores: %s' % e,
                    backend, None)
        if site.require_image_id_name and dsfile.name != image_id:
            return (REFUSED, 'file %r is not named after the image (%s)'
                    % (dsfile.name, site.option('require_image_id_name')),
                    backend, None)
        try:
            size = self._connections[site.backend].http.size(dsfile)
        except errors.VSphereError as e:
            return (UNKNOWN, 'cannot ask for the file: %s' % e, backend,
                    None)
        if size is None:
            return (MISSING, '%s does not exist' % dsfile, backend, None)
        return ('ok', '', backend, dsfile)

    def _policy(self, site, location):
        if site.backend not in self._policies:
            self.progress('%s: looking up the configured datastores',
                          site.label)
            conn = deployment.Connection(site)
            self._connections[site.backend] = conn
            try:
                if site.any_datastore:
                    allowed = None
                else:
                    targets = conn.targets()
                    targets.usable()
                    allowed = targets.allowed
            except errors.VSphereError as e:
                allowed = e     # not asked again for every location
            self._policies[site.backend] = allowed
        allowed = self._policies[site.backend]
        if isinstance(allowed, Exception):
            raise allowed
        if allowed is None:
            # Nova without image_datastores: any datastore of its vCenter.
            def allowed():
                return {(location.file.datacenter, location.file.datastore)}
        return site.policy(allowed)
