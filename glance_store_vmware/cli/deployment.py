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
or each ``<id>:vsphere`` of ``enabled_backends``), the ``[vmware]`` and
``[vsphere_image_handler]`` sections of a nova.conf, or each backend of a
cinder.conf whose ``volume_driver`` is our VMDK driver.  Each reader in
``READERS`` recognises one service's file.

Values are read through the options the service itself registers (the
Nova and Cinder ones as those services define them, so that neither needs
to be installed).
Mistakes in them are kept as ``Site.problems``, each naming the option, so
``check`` can report every one; the other sub-commands refuse a site with
problems.
"""

import dataclasses
import logging
import re

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
CINDER = 'cinder-volume'

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
    # A Nova or Cinder site: its clusters, the datastores it places VMs or
    # volumes on, and whether it may copy from any datastore (no
    # image_datastores).
    clusters: tuple = ()
    datastore_regex: str | None = None
    any_datastore: bool = False
    require_image_id_name: bool = False
    # The section with keystone options for Glance's API, if any, and
    # whether this site asks it.
    glance_group: str | None = None
    use_locations_api: bool = True
    # Why this site is not checked (a backend of Cinder's own driver).
    skipped: str | None = None
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


def _enabled_backends(conf):
    """``[DEFAULT] enabled_backends`` as written: Glance reads it as
    ``<id>:<store>`` pairs, Cinder as a list of section names."""
    _register(conf, [cfg.StrOpt('enabled_backends')], None)
    return conf.enabled_backends or ''


def glance_sites(conf):
    """The vsphere stores of a glance-api.conf, or None if it is not
    one."""
    opts.register_keystone_opts(conf, opts.GLANCE_API_GROUP)
    text = _enabled_backends(conf)
    if text:
        if _is_cinder_list(text):
            return None
        try:
            backends = cfg.types.Dict()(text)
        except ValueError as e:
            raise LookupError('[DEFAULT] enabled_backends: %s' % e) from None
        return [_store_site(conf, name, name)
                for name, kind in backends.items()
                if kind.strip() == 'vsphere']
    if 'glance_store' not in conf.list_all_sections():
        return None
    _register(conf, [cfg.ListOpt('stores', default=[])], 'glance_store')
    if 'vsphere' not in conf.glance_store.stores:
        return []
    return [_store_site(conf, 'glance_store', None)]


# nova.conf and cinder.conf -------------------------------------------------

def _copy_site(site, at):
    """The vCenter and image-copy values of a Nova or Cinder site, which
    share the copy's options under other names: ``at[role]`` is the
    ``(group, option name)`` that sets a role."""
    def read(role):
        group, name = at[role]
        return _read(site, group, name, role)

    def required(role):
        group, name = at[role]
        return _required(site, group, name, role)

    host = required('host')
    site.host = loc_mod.normalize_host(host) if host else None
    site.username = required('username')
    site.password = required('password')
    site.port = read('port') or 443
    site.ca_file = read('ca_file')
    site.insecure = bool(read('insecure'))
    site.datastore_regex = read('datastore_regex')
    try:
        re.compile(site.datastore_regex or '')
    except re.error as e:
        # The service refuses to start with it, with or without a cluster.
        site.problem('invalid regular expression: %s' % e, 'datastore_regex')
    for attr in ('api_retry_count', 'poll_interval', 'pool_size',
                 'api_timeout'):
        value = read(attr) if attr in at else None
        if value is not None:
            setattr(site, attr, value)
    entries = read('datastores')
    site.any_datastore = not entries
    site.targets = (_targets(site, entries, at['datastores'][1])
                    if entries else [])
    site.image_dir = _image_dir(site, read('image_dir'))
    site.aliases = _aliases(site, read('aliases'), site.port)
    site.require_image_id_name = bool(read('require_image_id_name'))
    site.use_locations_api = bool(read('use_locations_api'))


def _vcenter_opts(prefix, *, host, cluster, poll_interval):
    """The vCenter options that Nova's ``[vmware]`` and Cinder's VMDK
    driver both define, under Cinder's ``vmware_`` ``prefix`` or none;
    ``host`` and ``cluster`` are the option types, ``poll_interval`` the
    service's default."""
    return [
        host(prefix + 'host_ip'),
        cfg.PortOpt(prefix + 'host_port', default=443),
        cfg.StrOpt(prefix + 'host_username'),
        cfg.StrOpt(prefix + 'host_password', secret=True),
        cfg.StrOpt(prefix + 'ca_file'),
        cfg.BoolOpt(prefix + 'insecure', default=False),
        cluster(prefix + 'cluster_name'),
        cfg.StrOpt(prefix + 'datastore_regex'),
        cfg.IntOpt(prefix + 'api_retry_count', default=10),
        cfg.FloatOpt(prefix + 'task_poll_interval', default=poll_interval),
    ]


# Nova's own [vmware] options, as Nova 34 defines them (names, types and
# defaults); registered here so that reading a nova.conf needs no Nova.
NOVA_VMWARE_OPTS = _vcenter_opts('', host=cfg.HostAddressOpt,
                                 cluster=cfg.StrOpt, poll_interval=0.5)

# Role -> option, for Nova's [vmware] and the handler's options; the
# image-copy roles are the handler options' own names.  Cinder's backend
# options are the same under ``vmware_`` and ``cinder_option_name``.
_VCENTER_ROLES = {
    'host': 'host_ip', 'port': 'host_port', 'username': 'host_username',
    'password': 'host_password', 'ca_file': 'ca_file',
    'insecure': 'insecure', 'cluster': 'cluster_name',
    'datastore_regex': 'datastore_regex',
    'api_retry_count': 'api_retry_count',
    'poll_interval': 'task_poll_interval',
}
_COPY_ROLES = {
    'datastores': 'image_datastores', 'image_dir': 'image_dir',
    'aliases': 'location_host_aliases', 'api_timeout': 'vcenter_timeout',
    'require_image_id_name': 'require_image_id_file_name',
    'use_locations_api': 'use_locations_api',
}


def nova_sites(conf):
    """The vCenter of a nova.conf's VMware driver, or None."""
    if 'vmware' not in conf.list_all_sections():
        return None
    _register(conf, NOVA_VMWARE_OPTS, 'vmware')
    _register(conf, opts.HANDLER_OPTS, opts.HANDLER_GROUP)
    opts.register_keystone_opts(conf, opts.HANDLER_GROUP)
    sections = {role: ('vmware', name)
                for role, name in _VCENTER_ROLES.items()}
    sections.update({role: (opts.HANDLER_GROUP, name)
                     for role, name in _COPY_ROLES.items()})
    at = {role: (conf[section], name)
          for role, (section, name) in sections.items()}
    options = {name: '[vmware] %s' % name
               for name, _ in _names(NOVA_VMWARE_OPTS)}
    options.update({name: '[%s] %s' % (opts.HANDLER_GROUP, name)
                    for name, _ in _names(opts.HANDLER_OPTS)})
    options.update({role: '[%s] %s' % at_section
                    for role, at_section in sections.items()})
    site = Site(service=NOVA, label='nova-compute', options=options,
                glance_group=opts.HANDLER_GROUP)
    _copy_site(site, at)
    cluster = _read(site, conf.vmware, 'cluster_name', 'cluster')
    site.clusters = (cluster,) if cluster else ()
    return [site]


# Cinder's own options of its VMware VMDK driver, as Cinder 29 defines
# them (names, types and defaults), and the option that picks the driver;
# registered here so that reading a cinder.conf needs no Cinder.
CINDER_VMWARE_OPTS = [
    cfg.StrOpt('volume_driver',
               default='cinder.volume.drivers.lvm.LVMVolumeDriver'),
    *_vcenter_opts('vmware_', host=cfg.StrOpt, cluster=cfg.MultiStrOpt,
                   poll_interval=2.0),
    cfg.IntOpt('vmware_connection_pool_size', default=10),
]

# The section whose values Cinder uses where a backend section sets none.
CINDER_SHARED = 'backend_defaults'
CINDER_DRIVER = 'glance_store_vmware.cinder.driver.VSphereImagesVmdkDriver'
CINDER_OWN_DRIVER = 'cinder.volume.drivers.vmware.vmdk.VMwareVcVmdkDriver'

_CINDER_ROLES = dict(
    {role: 'vmware_' + name for role, name in _VCENTER_ROLES.items()},
    pool_size='vmware_connection_pool_size',
    **{role: opts.cinder_option_name(name)
       for role, name in _COPY_ROLES.items()})


def _is_cinder_list(text):
    """Whether ``enabled_backends`` names sections (Cinder) rather than
    ``<id>:<store>`` pairs (Glance)."""
    return any(':' not in entry for entry in text.split(',')
               if entry.strip())


class _CinderBackend:
    """A backend section as Cinder's driver reads it: the value its
    section sets, else the one ``[backend_defaults]`` sets, else the
    option's default."""

    def __init__(self, conf, name, options):
        self.name = name
        self._defaults = {o.name: o.default for o in options}
        for group in (name, CINDER_SHARED):
            _register(conf, options, group)
            for opt in options:
                # None: not set in this section.
                conf.set_default(opt.name, None, group=group)
        self._groups = (conf[name], conf[CINDER_SHARED])

    def __getattr__(self, option):
        for group in self._groups:
            value = getattr(group, option)
            if value is not None:
                return value
        return self._defaults[option]

    def section(self, option):
        """The section whose value is used: the one to fix."""
        try:
            if getattr(self._groups[0], option) is None and getattr(
                    self._groups[1], option) is not None:
                return CINDER_SHARED
        except (ValueError, cfg.Error):
            pass
        return self.name


def cinder_sites(conf):
    """The backends of a cinder.conf that run our VMDK driver (and, as
    skipped, those that run Cinder's own), or None if it is not one."""
    text = _enabled_backends(conf)
    if not text or not _is_cinder_list(text):
        return None
    options = CINDER_VMWARE_OPTS + opts.CINDER_OPTS
    opts.register_keystone_opts(conf, opts.CINDER_LOCATIONS_GROUP)
    names = [n for n in cfg.types.List()(text) if n]
    drivers = {}
    sites = []
    for name in names:
        backend = _CinderBackend(conf, name, options)
        drivers[name] = driver = (backend.volume_driver or '').strip()
        label = 'cinder backend %r' % name
        if driver == CINDER_OWN_DRIVER:
            sites.append(Site(
                service=CINDER, label=label, backend=name, options={},
                skipped='volume_driver is Cinder\'s own VMwareVcVmdkDriver, '
                        'which copies no image inside vSphere (%s does)'
                        % CINDER_DRIVER))
        elif driver == CINDER_DRIVER:
            sites.append(_cinder_site(backend, options, label))
    if not any(not s.skipped for s in sites):
        raise LookupError(
            'no backend of enabled_backends runs volume_driver = %s (%s)' % (
                CINDER_DRIVER, ', '.join('%s: %s' % (n, d)
                                         for n, d in drivers.items())
                or 'none enabled'))
    return sites


def _cinder_site(backend, options, label):
    at = {role: (backend, name) for role, name in _CINDER_ROLES.items()}
    site = Site(service=CINDER, label=label, backend=backend.name,
                glance_group=opts.CINDER_LOCATIONS_GROUP, options={})
    site.options = {role: '[%s] %s' % (backend.section(name), name)
                    for role, name in [*_names(options),
                                       *_CINDER_ROLES.items()]}
    _copy_site(site, at)
    site.clusters = tuple(c for c in _read(
        site, backend, 'vmware_cluster_name', 'cluster') or () if c)
    return site


READERS = [glance_sites, nova_sites, cinder_sites]


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
                          'store ([glance_store] or enabled_backends), '
                          'a Nova VMware driver ([vmware]) section, nor '
                          'Cinder backends (enabled_backends)')
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
        if chosen[0].skipped:
            raise LookupError('backend %r: %s' % (backend,
                                                  chosen[0].skipped))
        return chosen
    return sites
