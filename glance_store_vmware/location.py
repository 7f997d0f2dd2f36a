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

"""``vsphere://`` image locations: parsing, formatting and validation.

A location is untrusted input (Glance lets users add locations), so it is
parsed strictly and checked against the configuration before anything
reads, copies or deletes what it names.
"""

import dataclasses
import ipaddress
import posixpath
import urllib.parse

from glance_store_vmware.vsphere import paths
from glance_store_vmware.vsphere import transfer

SCHEME = 'vsphere'
FOLDER_PREFIX = '/folder/'
DEFAULT_PORT = 443


class InvalidLocation(ValueError):
    """A location that is malformed or outside what configuration allows."""


def normalize_host(host):
    """Lower-case names; canonical IP addresses (IPv6 without brackets)."""
    host = (host or '').strip().lower()
    if host.startswith('[') and host.endswith(']'):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.rstrip('.')


def parse_host_alias(entry, default_port=DEFAULT_PORT):
    """An alias of a vCenter as operators write it: ``host``,
    ``host:port``, ``[ipv6]`` or ``[ipv6]:port`` (a bare IPv6 address
    takes the default port).  Returns ``(normalized host, port)``; raises
    ValueError naming the entry."""
    text = entry.strip()
    port = None
    if text.startswith('['):
        host, sep, rest = text[1:].partition(']')
        if not sep or (rest and not rest.startswith(':')):
            host = ''
        if rest:
            port = rest[1:]
    elif text.count(':') == 1:
        host, _sep, port = text.partition(':')
    else:
        host = text
    host = normalize_host(host)
    if not host or any(c in host for c in '/?#@[] '):
        raise ValueError('%r is not a host name or address' % entry)
    if port is None:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError('%r has an invalid port %r' % (entry, port))
    return host, int(port)


def parse_host_aliases(values, default_port, option):
    """Every entry of a list option of vCenter aliases, as
    ``((host, port), ...)``; raises ValueError naming the option."""
    try:
        return tuple(parse_host_alias(v, default_port)
                     for v in values or () if v.strip())
    except ValueError as e:
        raise ValueError('%s: %s' % (option, e)) from None


def url_prefix(host, port, path):
    """``vsphere://host[:port]/folder/<path>``, without the query."""
    return '%s://%s%s%s' % (SCHEME, transfer.netloc(host, port),
                            FOLDER_PREFIX, urllib.parse.quote(path, safe='/'))


@dataclasses.dataclass(frozen=True)
class ImageLocation:
    """A datastore file on a given vCenter, as a ``vsphere://`` URL."""

    host: str
    port: int
    file: paths.DatastoreFile

    @classmethod
    def parse(cls, url):
        """Parse a URL strictly; the in-tree driver's URLs are accepted."""
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise InvalidLocation('malformed location: %s' % e) from None
        if port is None:
            port = DEFAULT_PORT
        elif port == 0:
            raise InvalidLocation('location port must be 1-65535')
        if parts.scheme != SCHEME:
            raise InvalidLocation('location scheme must be %s://' % SCHEME)
        if parts.username is not None or parts.password is not None:
            raise InvalidLocation('a location must not carry credentials')
        if not parts.hostname:
            raise InvalidLocation('location has no host')
        if parts.fragment:
            raise InvalidLocation('location must not have a fragment')
        if not parts.path.startswith(FOLDER_PREFIX):
            raise InvalidLocation('location path must start with %s'
                                  % FOLDER_PREFIX)
        try:
            query = urllib.parse.parse_qs(parts.query, keep_blank_values=True,
                                          strict_parsing=True)
        except ValueError:
            raise InvalidLocation('malformed location query') from None
        if set(query) != {'dcPath', 'dsName'} or any(
                len(v) != 1 for v in query.values()):
            raise InvalidLocation('location query must have exactly one '
                                  'dcPath and one dsName')
        file_path = urllib.parse.unquote(parts.path[len(FOLDER_PREFIX):])
        try:
            dsfile = paths.DatastoreFile(query['dcPath'][0],
                                         query['dsName'][0], file_path)
        except paths.InvalidPath as e:
            raise InvalidLocation(str(e)) from None
        return cls(normalize_host(parts.hostname), port, dsfile)

    @property
    def url(self):
        # urlencode's quote_plus, as the in-tree driver wrote its queries.
        query = urllib.parse.urlencode([('dcPath', self.file.datacenter),
                                        ('dsName', self.file.datastore)])
        return '%s?%s' % (url_prefix(self.host, self.port, self.file.path),
                          query)

    def __str__(self):
        return self.url


@dataclasses.dataclass(frozen=True)
class LocationPolicy:
    """Which locations this deployment may read, copy or delete.

    ``datastores`` is a callable returning the allowed
    ``(datacenter, datastore)`` pairs, so datastore clusters can be
    expanded lazily.  ``aliases`` are other ``(host, port)`` names of the
    same vCenter that existing locations may use (its address where the
    configuration now has its name, say).
    """

    host: str
    port: int
    image_dir: str
    datastores: object
    aliases: tuple = ()

    def names(self):
        """Every ``(host, port)`` accepted for this vCenter."""
        return [(self.host, self.port), *self.aliases]

    def check(self, location):
        """Return the location's file, or raise InvalidLocation."""
        names = {(normalize_host(host), port) for host, port in self.names()}
        if (normalize_host(location.host), location.port) not in names:
            raise InvalidLocation(
                'location names vCenter %s:%d, not the configured %s:%d%s'
                % (location.host, location.port, self.host, self.port,
                   ''.join(' nor its alias %s:%d' % alias
                           for alias in self.aliases)))
        dsfile = location.file
        if (dsfile.datacenter, dsfile.datastore) not in set(self.datastores()):
            raise InvalidLocation(
                'datastore %r of datacenter %r is not a configured image '
                'datastore' % (dsfile.datastore, dsfile.datacenter))
        image_dir = '/'.join(paths.split_clean(self.image_dir))
        if (posixpath.dirname(dsfile.path) != image_dir
                or dsfile.name.startswith('.')):
            raise InvalidLocation(
                'path %r is not an image file in the image directory %r'
                % (dsfile.path, image_dir))
        return dsfile
