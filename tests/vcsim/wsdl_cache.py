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

"""Parse the vim WSDL once per test process, not once per client.

Building suds' model of the 1.5 MB vim schema takes seconds, and
oslo.vmware does it for every new session (its document cache does not
keep the model).  Every simulator of a test run serves the same WSDL, so
clients after the first share the parsed model, as suds' own
``Client.clone()`` does, while keeping their own transport (CA, cookies),
endpoint and plugins.  Tests that must prove the WSDL is served call
``unshared_client``.
"""

import threading
import urllib.parse

from oslo_vmware import service
from suds import client as suds_client
from suds import options as suds_options

_ORIGINAL = service.CompatibilitySudsClient
_prototypes = {}
_lock = threading.Lock()


def _shared_client(url, **kwargs):
    key = urllib.parse.urlsplit(url).path
    with _lock:
        prototype = _prototypes.get(key)
        if prototype is None:
            prototype = _prototypes[key] = _ORIGINAL(url, **kwargs)
            return prototype
    client = _ORIGINAL.__new__(_ORIGINAL)
    client.options = suds_options.Options()
    client.set_options(**kwargs)
    client.wsdl = prototype.wsdl
    client.factory = prototype.factory
    client.service = suds_client.ServiceSelector(client,
                                                 prototype.wsdl.services)
    client.sd = prototype.sd
    client.messages = dict(tx=None, rx=None)
    return client


def install():
    """Make oslo.vmware share parsed WSDL models in this process."""
    service.CompatibilitySudsClient = _shared_client


def uninstall():
    service.CompatibilitySudsClient = _ORIGINAL
    _prototypes.clear()


def unshared_client(url, **kwargs):
    """A suds client that fetches and parses the WSDL itself."""
    return _ORIGINAL(url, **kwargs)
