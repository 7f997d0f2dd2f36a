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

"""``check``: a glance-api.conf, nova.conf or cinder.conf against vCenter.

For each site (a vsphere backend, Nova's vCenter, or a backend of our
Cinder VMDK driver): the option values;
the CA file and a login over the configured TLS; each datastore entry
resolved (a datastore cluster into its members), accessible, not in
maintenance mode, with more free space than the reserve; for Glance the
image directory present or creatable and a probe file written, renamed and
deleted in it; for Nova and Cinder their clusters and the datastores they
place VMs or volumes on, and the image directory on the datastores they
may copy from.  Then Glance's
API with the configured credentials.  Every finding names the option to
fix.  Nothing is left behind on a datastore: a probe file is removed on
every path, and an image directory the check created is removed again.
"""

import re
import uuid

from oslo_utils import units

from glance_store_vmware import store_config
from glance_store_vmware.cli import deployment
from glance_store_vmware.cli import glance_api
from glance_store_vmware.cli import output
from glance_store_vmware.image_copy import discovery
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import paths

COLUMNS = ('status', 'subject', 'check', 'detail', 'option')

# Options without which vCenter cannot be asked.
CONNECTION_ROLES = {'host', 'port', 'username', 'password', 'ca_file',
                    'insecure'}

# What a site's cluster datastores are for.
PLACES = {deployment.NOVA: 'Nova places VMs',
          deployment.CINDER: 'Cinder places volumes'}

# Where a site's image locations come from without Glance's locations API.
WITHOUT_API = {
    deployment.GLANCE: 'the orphans and locations commands need it',
    deployment.NOVA: 'locations come from image records (Glance\'s '
                     'show_image_direct_url)',
    deployment.CINDER: 'locations come from Cinder\'s image service (its '
                       '[glance] service user, else the image\'s '
                       'direct_url)',
}

PROBE_PREFIX = '.glance-store-vmware-check.'
PROBE_DATA = b'glance-store-vmware check probe\n'


def run(conf, args, progress):
    try:
        sites = deployment.load(conf, backend=args.backend)
    except LookupError as e:
        raise output.UsageError(str(e)) from None
    report = output.Report('findings', COLUMNS)
    for site in sites:
        SiteCheck(site, report, progress).run()
    asked = {}
    for site in sites:
        if site.glance_group:
            key = (site.glance_group, site.service)
            asked[key] = asked.get(key, False) or site.use_locations_api
    for (group, service), used in sorted(asked.items()):
        check_glance_api(conf, group, service, used, report, progress)
    problems = [r for r in report.rows
                if r['status'] in (output.WARN, output.FAIL)]
    report.summary = {'problems': len(problems)}
    return report, output.FINDINGS if problems else output.OK


class _Stop(Exception):
    """Nothing more can be checked for this site."""


class SiteCheck:

    def __init__(self, site, report, progress):
        self.site = site
        self.report = report
        self.progress = progress
        self.conn = None

    def add(self, status, subject, check, detail, *roles, option=None):
        self.report.add(status=status, subject=subject, check=check,
                        detail=detail,
                        option=option if option is not None
                        else self.site.option(*roles))

    def fail(self, subject, check, detail, *roles, option=None):
        self.add(output.FAIL, subject, check, detail, *roles, option=option)

    @property
    def vcenter(self):
        return '%s: vCenter %s:%s' % (self.site.label, self.site.host,
                                      self.site.port)

    def run(self):
        if self.site.skipped:
            self.add(output.INFO, self.site.label, 'skipped',
                     self.site.skipped, option='[%s] volume_driver'
                     % self.site.backend)
            return
        self.progress('%s: checking', self.site.label)
        try:
            self._configuration()
            self._log_in()
            for target in self.site.targets:
                self._entry(target)
            for cluster in self.site.clusters:
                self._cluster(cluster)
        except _Stop:
            pass
        finally:
            if self.conn is not None:
                self.conn.close()

    # Configuration and login ---------------------------------------------

    def _configuration(self):
        site = self.site
        for message, option in site.problems:
            self.fail(site.label, 'configuration', message, option=option)
        if site.broken & CONNECTION_ROLES:
            raise _Stop()
        if not site.problems:
            self.add(output.PASS, site.label, 'configuration',
                     'option values are valid', option='')
        problem = store_config.ca_file_problem(site.ca_file)
        if problem:
            self.fail(self.vcenter, 'TLS', problem.replace(
                'vmware_ca_file', 'CA file'), 'ca_file')
            raise _Stop()
        if not site.ca_file and site.insecure:
            self.add(output.WARN, self.vcenter, 'TLS',
                     'the vCenter certificate is not verified', 'insecure')

    def _log_in(self):
        site = self.site
        self.progress('%s: logging in to vCenter %s:%s', site.label,
                      site.host, site.port)
        self.conn = deployment.Connection(site)
        try:
            # Logs in; ages of partial uploads are measured on this clock.
            self.conn.files.server_time()
        except errors.NotAuthenticated as e:
            self.fail(self.vcenter, 'login', str(e), 'username', 'password')
            raise _Stop() from None
        except errors.ConfigurationError as e:
            self.fail(self.vcenter, 'login', str(e), 'ca_file', 'insecure')
            raise _Stop() from None
        except errors.VSphereError as e:
            self.fail(self.vcenter, 'login', str(e), 'host', 'port')
            raise _Stop() from None
        trust = ('verified with %s' % site.ca_file if site.ca_file
                 else 'not verified' if site.insecure
                 else 'verified with the system trust store')
        self.add(output.PASS, self.vcenter, 'login',
                 'logged in as %s; certificate %s' % (site.username, trust),
                 option='')

    def _call(self, subject, check, call, *roles):
        """``call()``; a vSphere error is a finding, and ends the site when
        vCenter cannot be asked any more."""
        try:
            return call()
        except errors.NotFound as e:
            self.fail(subject, check, str(e), *roles)
        except (errors.Unreachable, errors.NotAuthenticated,
                errors.ConfigurationError) as e:
            self.fail(subject, check, store_config.explain(e), 'host')
            raise _Stop() from None
        except errors.VSphereError as e:
            self.fail(subject, check, str(e), *roles)
        return None

    # Datastores ----------------------------------------------------------

    def _entry(self, target):
        subject = '%s: %s' % (self.site.label, target.entry)
        self.progress('%s: looking up %s', self.site.label, target.entry)
        inv = self.conn.inventory
        if self._call(subject, 'datacenter',
                      lambda: inv.datacenter(target.datacenter),
                      'datastores') is None:
            return
        refs = self._call(subject, 'datastore',
                          lambda: inv.resolve(target.datacenter, target.name),
                          'datastores')
        if refs is None:
            return
        if not refs:
            self.fail(subject, 'datastore', 'datastore cluster %r has no '
                      'datastores' % target.name, 'datastores')
            return
        states = self._call(subject, 'datastore state', lambda: inv.states(
            [(target.datacenter, ds, ref) for ds, ref in refs.items()]),
            'datastores')
        for state in states or []:
            member = ('%s: %s' % (subject, state.name)
                      if state.name != target.name else subject)
            self._state(member, state)
            if self.site.image_dir is None:
                continue    # reported with the configuration
            if self.site.service == deployment.GLANCE:
                self._image_directory(member, state)
            else:
                self._readable_image_directory(member, state)

    def _state(self, subject, state):
        if not state.accessible:
            self.fail(subject, 'datastore state', 'not accessible',
                      'datastores')
        elif not state.usable:
            self.fail(subject, 'datastore state', 'in maintenance mode '
                      '(%s)' % state.maintenance_mode, 'datastores')
        else:
            self.add(output.PASS, subject, 'datastore state',
                     'accessible, not in maintenance mode; %s free of %s'
                     % (output.size_text(state.free_space),
                        output.size_text(state.capacity)), option='')
        reserve_mb = self.site.reserve_mb
        if reserve_mb is None:
            return
        if state.free_space < reserve_mb * units.Mi:
            self.fail(subject, 'free space', '%s free, less than the '
                      '%d MiB reserve: uploads skip this datastore'
                      % (output.size_text(state.free_space), reserve_mb),
                      'reserve', 'datastores')
        else:
            self.add(output.PASS, subject, 'free space',
                     '%s free above the %d MiB reserve' % (
                         output.size_text(state.free_space
                                          - reserve_mb * units.Mi),
                         reserve_mb), option='')

    def _image_directory(self, subject, state):
        """The image directory present or creatable, and a probe file
        written, renamed and deleted in it."""
        files = self.conn.files
        dsdir = paths.DatastoreFile(state.datacenter, state.name,
                                    self.site.image_dir)
        self.progress('%s: probing %s', self.site.label, dsdir.ds_path)
        def exists():
            try:
                files.list_directory(dsdir)
            except errors.NotFound:
                return False
            return True
        found = self._call(subject, 'image directory', exists, 'image_dir')
        if found is None:
            return
        created = not found
        if created and self._call(
                subject, 'image directory',
                lambda: files.make_directory(dsdir) or True,
                'image_dir', 'username') is None:
            return
        token = uuid.uuid4().hex
        first = dsdir.child(PROBE_PREFIX + token)
        second = dsdir.child(PROBE_PREFIX + token + '.renamed')
        step = 'write'
        try:
            # A cheap request first: a fresh cookie before the body.
            self.conn.http.size(first)
            self.conn.http.put(first, [PROBE_DATA], size=len(PROBE_DATA))
            step = 'rename'
            files.move(first, second, force=False)
            step = 'delete'
            files.delete(second)
            step = None
        except errors.VSphereError as e:
            self.fail(subject, 'write probe', '%s failed: %s (the user '
                      'needs the Datastore privileges of the docs)'
                      % (step, store_config.explain(e)), 'username')
        finally:
            files.delete_quietly(first)
            files.delete_quietly(second)
            if created:
                files.delete_quietly(dsdir)
        left = self._leftovers(dsdir, token)
        if left:
            self.fail(subject, 'write probe', 'could not remove %s'
                      % ', '.join(left), 'username')
        elif step is None:
            self.add(output.PASS, subject, 'write probe',
                     'a file was written, renamed and deleted in %s%s'
                     % (dsdir.ds_path, ' (absent: created for the probe '
                        'and removed again)' if created else ''),
                     option='')
        elif created:
            self.add(output.PASS, subject, 'image directory',
                     '%s does not exist, and can be created' % dsdir.ds_path,
                     option='')

    def _leftovers(self, dsdir, token):
        try:
            entries = self.conn.files.list_directory(dsdir)
        except errors.NotFound:
            return []
        except errors.VSphereError as e:
            return ['(cannot list %s: %s)' % (dsdir.ds_path, e)]
        return [e.name for e in entries if token in e.name]

    def _readable_image_directory(self, subject, state):
        dsdir = paths.DatastoreFile(state.datacenter, state.name,
                                    self.site.image_dir)
        try:
            entries = self.conn.files.list_directory(dsdir)
        except errors.NotFound:
            self.add(output.INFO, subject, 'image directory',
                     '%s does not exist: no image there to copy yet'
                     % dsdir.ds_path, 'image_dir')
            return
        except errors.VSphereError as e:
            self.fail(subject, 'image directory', str(e), 'image_dir')
            return
        self.add(output.PASS, subject, 'image directory',
                 '%s readable, %d files' % (dsdir.ds_path, len(entries)),
                 option='')

    def _cluster(self, cluster):
        site = self.site
        subject = '%s: cluster %s' % (site.label, cluster)
        found = self._call(subject, 'cluster', lambda: (
            self.conn.inventory.cluster_datastores(cluster)),
            'cluster')
        if found is None or 'datastore_regex' in site.broken:
            return      # a bad expression is reported with the configuration
        pattern = re.compile(site.datastore_regex or '')
        chosen = {n: r for n, r in found.items() if pattern.match(n)}
        if not chosen:
            self.fail(subject, 'datastores', 'none of the cluster\'s '
                      'datastores (%s) matches' % ', '.join(sorted(found)),
                      'datastore_regex')
            return
        self.add(output.PASS, subject, 'cluster', 'found; %s on %s' % (
            PLACES[site.service], ', '.join(sorted(chosen))), option='')
        states = self._call(subject, 'datastore state', lambda: (
            self.conn.inventory.states([(cluster, n, r)
                                        for n, r in chosen.items()])),
            'datastore_regex')
        for state in states or []:
            self._state('%s: %s' % (subject, state.name), state)


# Glance's API --------------------------------------------------------------

def check_glance_api(conf, group, service, used, report, progress):
    """Glance's API with the keystone options of ``group``; ``used``:
    whether a site of ``service`` asks it."""
    subject = 'Glance API ([%s])' % group
    credentials = '[%s] auth_url, username, password' % group

    def add(status, check, detail, option=''):
        report.add(status=status, subject=subject, check=check,
                   detail=detail, option=option)

    if not glance_api.configured(conf, group) or not used:
        add(output.INFO, 'configuration', 'not configured: %s'
            % WITHOUT_API[service], '[%s] auth_type' % group)
        return
    progress('asking Glance\'s API with the credentials of [%s]', group)
    try:
        client = glance_api.from_conf(conf, group)
        roles = client.roles()
    except Exception as e:
        add(output.FAIL, 'authentication', str(e), credentials)
        return
    add(output.PASS, 'authentication', 'roles: %s' % ', '.join(sorted(roles)))
    if service == deployment.GLANCE and 'admin' not in roles:
        add(output.WARN, 'roles', 'without the admin role the image list '
            'misses other projects\' private images; orphans refuses to '
            'run', '[%s] username' % group)
    try:
        images = list(client.images(limit=1))
    except glance_api.GlanceError as e:
        add(output.FAIL, 'image list', str(e),
            '[%s] endpoint_override, region_name, valid_interfaces' % group)
        return
    add(output.PASS, 'image list', 'answered')
    if not images:
        add(output.INFO, 'locations API', 'no image to ask about')
        return
    try:
        client.entries(images[0]['id'])
    except discovery.LocationsUnavailable as e:
        add(output.WARN, 'locations API', str(e),
            '[%s] username' % group)
        return
    add(output.PASS, 'locations API', 'answered for image %s'
        % images[0]['id'])
