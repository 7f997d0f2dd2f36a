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

"""What a service's configuration file says about vCenter.

A ``Site`` is one vCenter configuration of one service: a ``vsphere``
backend of a glance-api.conf (``[glance_store]`` with ``stores = vsphere``,
or each ``<id>:vsphere`` of ``enabled_backends``), or the ``[vmware]`` and
``[vsphere_image_handler]`` sections of a nova.conf.  Each reader in
``READERS`` recognises one service's file; a cinder.conf reader adds itself
there.

Values are read through the options the service itself registers.
Mistakes in them are kept as ``Site.problems``, each naming the option, so
``check`` can report every one; the other sub-commands refuse a site with
problems.
"""

import dataclasses
import logging

from oslo_config import cfg

from glance_store_vmware import location as loc_mod
from glance_store_vmware import opts
from glance_store_vmware import store_config
from glance_store_vmware.vsphere import connection
from glance_store_vmware.vsphere import paths
from glance_store_vmware.vsphere import session as vs_session

LOG = logging.getLogger(__name__)

GLANCE = 'glance-api'
NOVA = 'nova-compute'

# The store's option that other names of its vCenter go into (added by
# the packaging work); read when registered.
HOST_ALIASES = 'vmware_server_host_aliases'


@dataclasses.dataclass
class Site:
    """One service's connection to one vCenter, and where its images are.

    ``options`` maps a role (``host``, ``datastores``, ...) to the option
    that sets it, as ``[section] name``: findings name it.
    """

    service: str
    label: str
    options: dict
    backend: str | None = None
    host: str | None = None
    port: int = loc_mod.DEFAULT_PORT
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    api_retry_count: int = 10
    api_timeout: int = vs_session.DEFAULT_TIMEOUT
    poll_interval: float = 5.0
    pool_size: int = 10
    http_timeout: int = 120
    aliases: tuple = ()
    targets: list = dataclasses.field(default_factory=list)
    image_dir: str | None = None
    reserve_mb: int | None = None
    partial_max_age: int | None = None
    # A Nova site: its cluster, the datastores it places VMs on, and
    # whether it may copy from any datastore (no image_datastores).
    cluster: str | None = None
    datastore_regex: str | None = None
    any_datastore: bool = False
    require_image_id_name: bool = False
    # The section with keystone options for Glance's API, if any.
    glance_group: str | None = None
    problems: list = dataclasses.field(default_factory=list)
    broken: set = dataclasses.field(default_factory=set)   # their roles

    def option(self, *roles):
        return ', '.join(self.options[r] for r in roles if r in self.options)

    def problem(self, message, *roles):
        self.problems.append((message, self.option(*roles)))
        self.broken.update(roles)

    def policy(self, datastores):
        """The location policy of this site; ``datastores()`` gives the
        allowed ``(datacenter, datastore)`` pairs."""
        return loc_mod.LocationPolicy(self.host, self.port,
                                      self.image_dir or '', datastores,
                                      aliases=self.aliases)


class Connection:
    """The vSphere layer for one site, built as the service builds it."""

    def __init__(self, site):
        self.site = site
        self.session = vs_session.Session(
            site.host, site.username, site.password, port=site.port,
            ca_file=site.ca_file, insecure=site.insecure,
            api_retry_count=site.api_retry_count, pool_size=site.pool_size,
            timeout=site.api_timeout, label=site.label)
        vc = connection.VCenter.on(
            self.session, poll_interval=site.poll_interval,
            pool_size=site.pool_size, http_timeout=site.http_timeout)
        self.inventory, self.files, self.http = vc.inventory, vc.files, vc.http

    def targets(self):
        """The site's datastore entries, looked up on first use."""
        return store_config.Targets(
            self.site.targets, self.inventory, recheck_interval=1,
            log=LOG, option=self.site.options.get('datastores',
                                                  store_config.DATASTORES))

    def close(self):
        self.http.close()
        self.session.close()


# Reading values ----------------------------------------------------------

def _read(site, group, name, role=None):
    """An option's value, or None with a problem naming it."""
    try:
        return getattr(group, name)
    except (ValueError, cfg.Error) as e:
        site.problem('invalid value: %s' % e, role or name)
        return None


def _required(site, group, name, role):
    value = _read(site, group, name, role)
    if value in (None, '', []):
        site.problem('option is required', role)
    return value


def _image_dir(site, value):
    if value is None:
        return None     # already a problem
    try:
        return '/'.join(paths.split_clean(value))
    except paths.InvalidPath as e:
        site.problem(str(e), 'image_dir')
        return None


def _targets(site, values, option):
    """The entries that parse; each one that does not is a problem."""
    try:
        texts = opts.datastore_entry_texts(values, option)
        if not texts:
            return store_config.parse_targets(texts, option)
    except ValueError as e:
        site.problem(str(e), 'datastores')
        return []
    targets = []
    for text in texts:
        try:
            targets += store_config.parse_targets([text], option)
        except ValueError as e:
            site.problem(str(e), 'datastores')
    return targets


def _aliases(site, values, default_port):
    try:
        return tuple(loc_mod.parse_host_alias(a, default_port)
                     for a in values or () if a.strip())
    except ValueError as e:
        site.problem('invalid entry: %s' % e, 'aliases')
        return ()


def _names(options):
    """``(name, name)`` of each option: its own role."""
    return [(o.name, o.name) for o in options]


def _register(conf, options, group):
    for opt in options:
        try:
            conf.register_opt(opt, group=group)
        except cfg.DuplicateOptError:
            pass


# glance-api.conf ---------------------------------------------------------

_STORE_ROLES = {
    'host': 'vmware_server_host', 'port': 'vmware_server_port',
    'username': 'vmware_server_username',
    'password': 'vmware_server_password', 'ca_file': 'vmware_ca_file',
    'insecure': 'vmware_insecure', 'datastores': 'vmware_datastores',
    'image_dir': 'vmware_store_image_dir',
    'reserve': 'vmware_free_space_reserve_mb',
    'api_timeout': 'vmware_api_timeout', 'http_timeout': 'vmware_http_timeout',
    'partial_max_age': 'vmware_partial_file_max_age',
    'aliases': HOST_ALIASES,
}


def _store_site(conf, section, backend):
    _register(conf, opts.STORE_OPTS, section)
    group = conf[section]
    site = Site(service=GLANCE, label=store_config.label(backend),
                backend=backend, glance_group=opts.GLANCE_API_GROUP,
                options={role: '[%s] %s' % (section, name)
                         for role, name in [*_names(opts.STORE_OPTS),
                                            *_STORE_ROLES.items()]})
    host = _required(site, group, 'vmware_server_host', 'host')
    site.host = loc_mod.normalize_host(host) if host else None
    site.username = _required(site, group, 'vmware_server_username',
                              'username')
    site.password = _required(site, group, 'vmware_server_password',
                              'password')
    site.port = _read(site, group, 'vmware_server_port', 'port') or 443
    site.ca_file = _read(site, group, 'vmware_ca_file', 'ca_file')
    site.insecure = bool(_read(site, group, 'vmware_insecure', 'insecure'))
    for attr, name in (('api_retry_count', 'vmware_api_retry_count'),
                       ('poll_interval', 'vmware_task_poll_interval'),
                       ('pool_size', 'vmware_http_pool_size'),
                       ('api_timeout', 'vmware_api_timeout'),
                       ('http_timeout', 'vmware_http_timeout'),
                       ('reserve_mb', 'vmware_free_space_reserve_mb'),
                       ('partial_max_age', 'vmware_partial_file_max_age')):
        value = _read(site, group, name)
        if value is not None:
            setattr(site, attr, value)
    site.targets = _targets(site, _read(site, group, 'vmware_datastores',
                                        'datastores'),
                            'vmware_datastores')
    site.image_dir = _image_dir(
        site, _read(site, group, 'vmware_store_image_dir', 'image_dir'))
    if HOST_ALIASES in group:
        site.aliases = _aliases(site, group[HOST_ALIASES], site.port)
    problem = store_config.partial_age_problem(site.partial_max_age,
                                               site.http_timeout)
    if problem:
        site.problem(problem, 'partial_max_age')
    return site


def glance_sites(conf):
    """The vsphere stores of a glance-api.conf, or None if it is not
    one."""
    _register(conf, [cfg.DictOpt('enabled_backends')], None)
    opts.register_keystone_opts(conf, opts.GLANCE_API_GROUP)
    backends = conf.enabled_backends or {}
    if backends:
        return [_store_site(conf, name, name)
                for name, kind in backends.items()
                if kind.strip() == 'vsphere']
    if 'glance_store' not in conf.list_all_sections():
        return None
    _register(conf, [cfg.ListOpt('stores', default=[])], 'glance_store')
    if 'vsphere' not in conf.glance_store.stores:
        return []
    return [_store_site(conf, 'glance_store', None)]


# nova.conf ---------------------------------------------------------------

# Nova's own [vmware] options, as Nova 34 defines them (names, types and
# defaults); registered here so that reading a nova.conf needs no Nova.
NOVA_VMWARE_OPTS = [
    cfg.HostAddressOpt('host_ip'),
    cfg.PortOpt('host_port', default=443),
    cfg.StrOpt('host_username'),
    cfg.StrOpt('host_password', secret=True),
    cfg.StrOpt('ca_file'),
    cfg.BoolOpt('insecure', default=False),
    cfg.StrOpt('cluster_name'),
    cfg.StrOpt('datastore_regex'),
    cfg.IntOpt('api_retry_count', default=10),
    cfg.FloatOpt('task_poll_interval', default=0.5),
]

_NOVA_ROLES = {
    'host': '[vmware] host_ip', 'port': '[vmware] host_port',
    'username': '[vmware] host_username',
    'password': '[vmware] host_password', 'ca_file': '[vmware] ca_file',
    'insecure': '[vmware] insecure', 'cluster': '[vmware] cluster_name',
    'datastore_regex': '[vmware] datastore_regex',
    'datastores': '[%s] image_datastores' % opts.HANDLER_GROUP,
    'image_dir': '[%s] image_dir' % opts.HANDLER_GROUP,
    'aliases': '[%s] location_host_aliases' % opts.HANDLER_GROUP,
    'api_timeout': '[%s] vcenter_timeout' % opts.HANDLER_GROUP,
    'require_image_id_name': '[%s] require_image_id_file_name'
                             % opts.HANDLER_GROUP,
}


def nova_sites(conf):
    """The vCenter of a nova.conf's VMware driver, or None."""
    if 'vmware' not in conf.list_all_sections():
        return None
    _register(conf, NOVA_VMWARE_OPTS, 'vmware')
    _register(conf, opts.HANDLER_OPTS, opts.HANDLER_GROUP)
    opts.register_keystone_opts(conf, opts.HANDLER_GROUP)
    vmware, handler = conf.vmware, conf[opts.HANDLER_GROUP]
    options = {name: '[vmware] %s' % name
               for name, _ in _names(NOVA_VMWARE_OPTS)}
    options.update({name: '[%s] %s' % (opts.HANDLER_GROUP, name)
                    for name, _ in _names(opts.HANDLER_OPTS)})
    options.update(_NOVA_ROLES)
    site = Site(service=NOVA, label='nova-compute', options=options,
                glance_group=opts.HANDLER_GROUP)
    host = _required(site, vmware, 'host_ip', 'host')
    site.host = loc_mod.normalize_host(host) if host else None
    site.username = _required(site, vmware, 'host_username', 'username')
    site.password = _required(site, vmware, 'host_password', 'password')
    site.port = _read(site, vmware, 'host_port', 'port') or 443
    site.ca_file = _read(site, vmware, 'ca_file', 'ca_file')
    site.insecure = bool(_read(site, vmware, 'insecure', 'insecure'))
    site.cluster = _read(site, vmware, 'cluster_name', 'cluster')
    site.datastore_regex = _read(site, vmware, 'datastore_regex',
                                 'datastore_regex')
    site.api_retry_count = _read(site, vmware, 'api_retry_count') or 10
    site.poll_interval = _read(site, vmware, 'task_poll_interval') or 0.5
    site.api_timeout = _read(site, handler, 'vcenter_timeout',
                             'api_timeout') or 30
    entries = _read(site, handler, 'image_datastores', 'datastores')
    site.any_datastore = not entries
    site.targets = (_targets(site, entries, 'image_datastores')
                    if entries else [])
    site.image_dir = _image_dir(site, _read(site, handler, 'image_dir',
                                            'image_dir'))
    site.aliases = _aliases(
        site, _read(site, handler, 'location_host_aliases', 'aliases'),
        site.port)
    site.require_image_id_name = bool(
        _read(site, handler, 'require_image_id_file_name'))
    return [site]


# A cinder.conf reader (the VMDK driver's backends) goes here.
READERS = [glance_sites, nova_sites]


def load(conf, backend=None):
    """The sites a parsed configuration file describes.

    Raises ``UsageError``-worthy ``LookupError`` when it describes none,
    or when ``backend`` names none of them.
    """
    sites = []
    recognised = False
    for reader in READERS:
        found = reader(conf)
        if found is not None:
            recognised = True
            sites.extend(found)
    if not recognised:
        raise LookupError('the configuration file has neither a Glance '
                          'store ([glance_store] or enabled_backends) nor '
                          'a Nova VMware driver ([vmware]) section')
    if not sites:
        raise LookupError('the configuration file enables no vsphere store '
                          '(stores = vsphere, or <id>:vsphere in '
                          'enabled_backends)')
    if backend is not None:
        chosen = [s for s in sites if s.backend == backend]
        if not chosen:
            raise LookupError('no vsphere backend %r; the file has %s' % (
                backend, ', '.join(repr(s.backend) for s in sites
                                   if s.backend) or 'no named backends'))
        return chosen
    return sites
