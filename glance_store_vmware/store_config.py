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

"""The store's configuration checks, and messages that name the option.

Two kinds of mistakes:

* Mistakes in the option values themselves (a required option missing, a
  malformed ``vmware_datastores`` entry or weight, an unsafe
  ``vmware_store_image_dir``) are found without vCenter.  They are
  ``ValueError`` here; the store turns them into ``BadStoreConfiguration``
  from ``configure()``, which stops glance-api at start-up.
* Mistakes only the environment reveals (a CA file that is missing, refused
  credentials, a certificate that does not verify, a datastore that does
  not exist) are reported as ERROR when first found.  Glance keeps running
  (vCenter may just be down at start-up, or the operator fixes the file or
  the inventory), and requests that need what is wrong fail with the
  reason.
"""

import dataclasses
import os
import threading
import time

from glance_store_vmware import opts
from glance_store_vmware.vsphere import errors

DATASTORES = 'vmware_datastores'
CREDENTIAL_OPTIONS = 'vmware_server_username, vmware_server_password'
TLS_OPTIONS = 'vmware_ca_file, vmware_insecure'


class Mistake(Exception):
    """A configuration mistake found while serving; the message names the
    option."""


def label(backend):
    """How log lines and messages name a store: ``vsphere store 'fast'``
    for a backend of ``enabled_backends``, ``vsphere store`` otherwise."""
    return "vsphere store '%s'" % backend if backend else 'vsphere store'


def explain(exc):
    """The message of a vSphere layer error, naming the options to check
    when the error is one of configuration."""
    text = str(exc)
    if 'vmware_' in text:
        return text
    if isinstance(exc, errors.NotAuthenticated):
        return '%s (options %s)' % (text, CREDENTIAL_OPTIONS)
    if isinstance(exc, errors.ConfigurationError):
        return '%s (options %s)' % (text, TLS_OPTIONS)
    return text


def ca_file_problem(path):
    """Why ``vmware_ca_file`` cannot be used, or None."""
    if not path:
        return None
    if not os.path.exists(path):
        return ('vmware_ca_file %r does not exist; vCenter\'s certificate '
                'cannot be verified' % path)
    if not os.path.isfile(path):
        return 'vmware_ca_file %r is not a file' % path
    if not os.access(path, os.R_OK):
        return 'vmware_ca_file %r cannot be read by glance-api' % path
    return None


def partial_age_problem(max_age, http_timeout):
    """Why ``vmware_partial_file_max_age`` is unsafe, or None."""
    if max_age > http_timeout:
        return None
    return ('vmware_partial_file_max_age (%d s) must be larger than '
            'vmware_http_timeout (%d s), or uploads in progress could be '
            'taken for abandoned' % (max_age, http_timeout))


@dataclasses.dataclass(frozen=True)
class Target:
    """One ``vmware_datastores`` entry: where images may be stored."""

    entry: str
    datacenter: str
    name: str
    weight: int


def parse_targets(values, option=DATASTORES):
    """The entries of ``vmware_datastores`` (repeated or comma-separated).

    Raises ValueError naming the option and the entry at fault.
    """
    texts = opts.datastore_entry_texts(values, option)
    parsed = opts.parse_datastore_entries(values, option)
    if not parsed:
        raise ValueError('option %s is required' % option)
    return [Target(text, *fields)
            for text, fields in zip(texts, parsed, strict=True)]


class Targets:
    """The configured entries and the datastores vCenter has for them.

    Entries are looked up on first use (at start-up if vCenter answers).
    Found ones are kept; an entry vCenter does not have is reported as
    ERROR once (and again only if the reason changes), skipped, and looked
    up again every ``recheck_interval`` seconds; the others stay in use.
    Other vSphere errors (vCenter down, credentials, TLS) propagate.
    """

    def __init__(self, targets, inventory, recheck_interval, log,
                 option=DATASTORES):
        self._targets = list(targets)
        self._inventory = inventory
        self._interval = recheck_interval
        self._log = log
        self._option = option
        self._resolved = {}
        self._retry_at = {}
        self._problems = {}
        self._lock = threading.Lock()

    def usable(self):
        """``[(weight, datacenter, datastore, ref)]`` of every datastore
        the entries name, looking up entries that are due."""
        now = time.monotonic()
        with self._lock:
            pending = [t for t in self._targets if t not in self._resolved
                       and self._retry_at.get(t, 0) <= now]
        for target in pending:
            try:
                refs = self._inventory.resolve(target.datacenter,
                                               target.name)
            except errors.NotFound as e:
                self._missing(target, e, now)
                continue
            with self._lock:
                self._resolved[target] = refs
                fixed = self._problems.pop(target, None)
            if fixed:
                self._log.info('%s entry %r is found now', self._option,
                               target.entry)
        with self._lock:
            return [(t.weight, t.datacenter, ds, ref)
                    for t in self._targets if t in self._resolved
                    for ds, ref in self._resolved[t].items()]

    def _missing(self, target, exc, now):
        problem = '%s entry %r: %s' % (self._option, target.entry, exc)
        with self._lock:
            self._retry_at[target] = now + self._interval
            new = self._problems.get(target) != problem
            self._problems[target] = problem
        if new:
            self._log.error('%s; skipping it, looking it up again every %d '
                            's', problem, self._interval)

    def forget(self):
        """Look every entry up again on next use (vCenter rebuilt its
        inventory); what is known to be missing stays reported."""
        with self._lock:
            self._resolved.clear()
            self._retry_at.clear()

    def problems(self):
        """Why entries are not in use, in configuration order."""
        with self._lock:
            return [self._problems[t] for t in self._targets
                    if t in self._problems]

    def resolved(self):
        """``(datacenter, datastore)`` of every datastore found so far,
        without asking vCenter."""
        with self._lock:
            return [(t.datacenter, ds) for t in self._targets
                    if t in self._resolved for ds in self._resolved[t]]

    def allowed(self):
        """``(datacenter, datastore)`` pairs whose images may be read and
        deleted: the entries, and the members of datastore clusters."""
        allowed = {(t.datacenter, t.name) for t in self._targets}
        with self._lock:
            for target, refs in self._resolved.items():
                allowed.update((target.datacenter, ds) for ds in refs)
        return allowed

    def unusable_error(self):
        """A Mistake naming the option and every entry at fault, when the
        reason nothing can be used is the entries; else None."""
        problems = self.problems()
        if not problems:
            return None
        return Mistake('no %s entry names a datastore or datastore cluster '
                       'that vCenter has: %s' % (self._option,
                                                 '; '.join(problems)))
