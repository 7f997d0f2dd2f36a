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

"""Errors of the vSphere layer, independent of Glance and Nova."""


class VSphereError(Exception):
    """A vSphere operation failed."""


class NotFound(VSphereError):
    """The datacenter, datastore or file does not exist."""


class AlreadyExists(VSphereError):
    """The target file already exists."""


class Unreachable(VSphereError):
    """vCenter cannot be reached: connection refused or timed out, TLS."""


class StaleReference(VSphereError):
    """A managed object vanished (vCenter restarted, inventory rebuilt):
    look it up again."""


class ConfigurationError(VSphereError):
    """A setting is wrong (CA file, credentials, names): retrying cannot
    help; the message names the setting."""


class NotAuthenticated(VSphereError):
    """vCenter refused the session, even after logging in again."""


class TransferError(VSphereError):
    """A datastore HTTP transfer failed or was cut short."""


class ConnectionLost(TransferError):
    """vCenter dropped the connection in the middle of a transfer (it
    crashed, restarted, or the network broke): worth trying again later."""


def describe(exc):
    """One line naming an exception and its message, for a log line."""
    text = ' '.join(str(exc).split())
    return '%s: %s' % (type(exc).__name__, text[:300]) if text else \
        type(exc).__name__
