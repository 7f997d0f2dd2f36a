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

"""``orphans``: what failed uploads and lost images leave behind.

Only files directly in the image directory of a configured datastore (the
members of a datastore cluster included) are looked at, of two kinds:

* partial uploads (``.<image id>.<32 hex>.part``) last written more than
  AGE ago by vCenter's clock, judged as the store's own sweep judges them
  (``partials.judge``);
* image files, named like a Glance image id (a UUID), that no location of
  any Glance image names and that were last written more than AGE ago.

Other names in the directory are listed as kept and never deleted.  It is
a dry run unless ``--delete`` is given.

Safety, since a wrong answer deletes an image:

* The directories are listed before Glance is asked, and nothing younger
  than AGE (default ``vmware_partial_file_max_age``, which must exceed
  ``vmware_http_timeout``) counts: the store renames a finished upload into
  place a moment before Glance records its location.
* A file counts as referenced if any location names its datacenter,
  datastore and path, whatever name of vCenter the location uses.
* The Glance user must hold the ``admin`` role (to see every project's
  images, hidden and community ones included); if the locations of any
  image cannot all be learnt, no image file is called unreferenced.
"""

import dataclasses
import uuid

from glance_store_vmware import location as loc_mod
from glance_store_vmware import opts
from glance_store_vmware import partials
from glance_store_vmware.cli import deployment
from glance_store_vmware.cli import glance_api
from glance_store_vmware.cli import output
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import paths

COLUMNS = ('kind', 'file', 'datacenter', 'size', 'age', 'action')
# With several backends, e.g. on two vCenters whose datacenters and
# datastores have the same names, the backend says where a file is.
MULTI_COLUMNS = ('kind', 'file', 'datacenter', 'backend', 'size', 'age',
                 'action')

PARTIAL = 'partial upload'
UNREFERENCED = 'unreferenced image file'
UNKNOWN = 'unknown file'

def age_text(seconds):
    seconds = int(seconds)
    if seconds < 120:
        return '%d s' % seconds
    if seconds < 7200:
        return '%d min' % (seconds // 60)
    if seconds < 2 * 86400:
        return '%.1f h' % (seconds / 3600)
    return '%.1f d' % (seconds / 86400)


def is_image_id(name):
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


@dataclasses.dataclass
class Candidate:
    kind: str
    file: paths.DatastoreFile
    size: int | None
    age: float | None
    connection: object
    action: str = ''


def run(conf, args, progress):
    try:
        sites = deployment.load(conf)
    except LookupError as e:
        raise output.UsageError(str(e)) from None
    sites = _glance_sites(sites)
    max_age = args.older_than
    for site in sites:
        age = site.partial_max_age if max_age is None else max_age
        if age <= site.http_timeout:
            raise output.UsageError(
                'AGE (%d s) must be larger than %s (%d s) of %s: an upload '
                'in progress could be taken for abandoned'
                % (age, site.option('http_timeout'), site.http_timeout,
                   site.label))
    report = output.Report('files', MULTI_COLUMNS if any(
        site.backend for site in sites) else COLUMNS)
    problems = []
    connections = [deployment.Connection(site) for site in sites]
    try:
        candidates = _candidates(connections, max_age, problems, progress)
        if candidates.get(UNREFERENCED):
            candidates[UNREFERENCED] = _unreferenced(
                conf, candidates[UNREFERENCED], problems, progress)
        found = [c for kind in (PARTIAL, UNREFERENCED, UNKNOWN)
                 for c in candidates.get(kind, [])]
        reclaimable = [c for c in found if not c.action]
        for cand in reclaimable:
            cand.action = 'would delete'
            if args.delete:
                _delete(cand, progress)
    finally:
        for conn in connections:
            conn.close()
    for cand in found:
        report.add(kind=cand.kind, file=cand.file.ds_path,
                   datacenter=cand.file.datacenter,
                   backend=cand.connection.site.backend,
                   size=cand.size if args.format == 'json'
                   else output.size_text(cand.size),
                   age=(None if cand.age is None else int(cand.age))
                   if args.format == 'json' else (
                       '' if cand.age is None else age_text(cand.age)),
                   action=cand.action)
    left = [c for c in reclaimable if c.action != 'deleted']
    report.summary = {
        'reclaimable_bytes': sum(c.size or 0 for c in left),
        'deleted_bytes': sum(c.size or 0 for c in reclaimable
                             if c.action == 'deleted'),
        'problems': problems,
    }
    return report, output.FINDINGS if left or problems else output.OK


def _glance_sites(sites):
    glance = [s for s in sites if s.service == deployment.GLANCE]
    if not glance:
        raise output.UsageError('orphans reads a glance-api.conf (the '
                                'store\'s image directories)')
    for site in glance:
        if site.problems:
            raise output.UsageError('%s: %s' % (site.label, '; '.join(
                '%s (%s)' % p for p in site.problems)))
    return glance


def _candidates(connections, max_age, problems, progress):
    """``{kind: [Candidate]}`` of every image directory, each once; a
    candidate that must be kept already has its ``action``."""
    found = {}
    seen = set()
    for conn in connections:
        site = conn.site
        age_limit = site.partial_max_age if max_age is None else max_age
        try:
            targets = conn.targets()
            usable = targets.usable()
            problems.extend(targets.problems())
            now = conn.files.server_time()
        except errors.VSphereError as e:
            problems.append('%s: %s' % (site.label, e))
            continue
        for _weight, dc, ds, _ref in usable:
            dsdir = paths.DatastoreFile(dc, ds, site.image_dir)
            key = (site.host, site.port, dc, ds, dsdir.path)
            if key in seen:
                continue    # two backends sharing a directory
            seen.add(key)
            progress('%s: listing %s', site.label, dsdir)
            try:
                entries = conn.files.list_directory(dsdir)
            except errors.NotFound:
                continue
            except errors.VSphereError as e:
                problems.append('%s: cannot list %s: %s' % (site.label,
                                                            dsdir, e))
                continue
            abandoned, young = partials.judge(entries, now, age_limit)
            for entry in abandoned:
                found.setdefault(PARTIAL, []).append(
                    _candidate(PARTIAL, dsdir, entry, now, conn))
            for entry, _left in young:
                found.setdefault(PARTIAL, []).append(_candidate(
                    PARTIAL, dsdir, entry, now, conn,
                    'kept: younger than %s' % age_text(age_limit)))
            for entry in entries:
                if partials.image_of(entry.name) is not None:
                    continue
                if entry.name.startswith('.') or not is_image_id(
                        entry.name):
                    found.setdefault(UNKNOWN, []).append(_candidate(
                        UNKNOWN, dsdir, entry, now, conn,
                        'kept: not a name the store writes'))
                    continue
                cand = _candidate(UNREFERENCED, dsdir, entry, now, conn)
                if cand.age is None or cand.age <= age_limit:
                    cand.action = 'kept: younger than %s' % age_text(
                        age_limit)
                found.setdefault(UNREFERENCED, []).append(cand)
    return found


def _candidate(kind, dsdir, entry, now, conn, action=''):
    age = (None if entry.modified is None
           else (now - entry.modified).total_seconds())
    return Candidate(kind, dsdir.child(entry.name), entry.size, age, conn,
                     action)


def _unreferenced(conf, image_files, problems, progress):
    """The image files that no Glance location names; none if Glance
    cannot say."""
    try:
        client = glance_api.from_conf(conf, opts.GLANCE_API_GROUP)
        roles = client.roles()
    except glance_api.NotConfigured as e:
        raise output.UsageError(str(e)) from None
    except Exception as e:
        return _none(image_files, problems,
                     'cannot authenticate to Glance: %s' % e)
    if 'admin' not in roles:
        raise output.UsageError(
            'the user of [%s] lacks the admin role, so Glance lists only '
            'some projects\' images: unreferenced files cannot be told'
            % opts.GLANCE_API_GROUP)
    referenced = set()
    incomplete = []
    count = 0
    try:
        for image in client.images():
            found = client.locations(image)
            if not found.complete:
                incomplete.append('%s (%s)' % (found.id, found.problem))
            for entry in found.locations:
                try:
                    loc = loc_mod.ImageLocation.parse(entry['url'])
                except loc_mod.InvalidLocation:
                    continue
                referenced.add((loc.file.datacenter, loc.file.datastore,
                                loc.file.path))
            count += 1
            if count % 100 == 0:
                progress('asked Glance about %d images', count)
    except glance_api.GlanceError as e:
        return _none(image_files, problems, str(e))
    progress('Glance has %d images', count)
    if incomplete:
        return _none(image_files, problems, 'the locations of %d images '
                     'could not all be learnt: %s' % (
                         len(incomplete), '; '.join(incomplete[:5])))
    return [c for c in image_files if (c.file.datacenter, c.file.datastore,
                                       c.file.path) not in referenced]


def _none(image_files, problems, reason):
    problems.append('%d image files were not checked against Glance, so '
                    'none is called unreferenced: %s' % (len(image_files),
                                                         reason))
    return []


def _delete(cand, progress):
    progress('deleting %s', cand.file)
    try:
        cand.connection.files.delete(cand.file)
    except errors.NotFound:
        cand.action = 'gone already'
        return
    except errors.VSphereError as e:
        cand.action = 'delete failed: %s' % e
        return
    cand.action = 'deleted'
