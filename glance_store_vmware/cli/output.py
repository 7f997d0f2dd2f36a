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

"""What the command prints: result rows as a table or JSON on stdout,
progress on stderr, and the exit status.

Exit status, for scripts:

* 0: every check passed; nothing to reclaim or refuse;
* 1: findings: a check failed or warned, files to reclaim (or that could
  not be deleted), locations the store would refuse or that are risky, or
  vCenter or Glance could not be asked;
* 2: usage or configuration error: bad arguments, a configuration file
  that cannot be read or configures no vSphere store.
"""

import json
import sys
import textwrap

OK = 0
FINDINGS = 1
USAGE = 2

# Status of a check's result line; WARN and FAIL are findings.
PASS = 'OK'
INFO = 'INFO'
WARN = 'WARN'
FAIL = 'FAIL'


class UsageError(Exception):
    """Bad arguments or an unusable configuration file: exit status 2."""


def table(columns, rows, max_width=60):
    """An ASCII table like python-openstackclient's ``-f table``; longer
    cells are wrapped at ``max_width`` characters."""
    def cell(value):
        text = '' if value is None else str(value)
        return '\n'.join(textwrap.fill(line, max_width) if line else ''
                         for line in text.splitlines())
    cells = [[str(c) for c in columns]] + [[cell(v) for v in row]
                                           for row in rows]
    widths = [max(len(line) for r in cells for line in r[i].splitlines()
                  or [''])
              for i in range(len(columns))]
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def lines(row):
        split = [c.splitlines() or [''] for c in row]
        height = max(len(s) for s in split)
        for i in range(height):
            yield '| ' + ' | '.join(
                (s[i] if i < len(s) else '').ljust(w)
                for s, w in zip(split, widths, strict=True)) + ' |'

    out = [rule, *lines(cells[0]), rule]
    for row in cells[1:]:
        out.extend(lines(row))
    if len(cells) > 1:
        out.append(rule)
    return '\n'.join(out)


class Report:
    """Rows of one kind (``columns``, a dict per row keyed by column
    name in JSON) and a summary of ``{name: value}``."""

    def __init__(self, kind, columns):
        self.kind = kind
        self.columns = list(columns)
        self.rows = []
        self.summary = {}

    def add(self, **row):
        self.rows.append({c: row.get(c) for c in self.columns})

    def render(self, fmt):
        if fmt == 'json':
            return json.dumps({self.kind: self.rows, **self.summary},
                              indent=2, sort_keys=False)
        text = table([c.replace('_', ' ') for c in self.columns],
                     [[r[c] for c in self.columns] for r in self.rows])
        for key, value in self.summary.items():
            text += '\n%s:%s' % (key.replace('_', ' '),
                                  _summary_text(key, value))
        return text


def _summary_text(key, value):
    if isinstance(value, list):
        return ''.join('\n  - %s' % v for v in value) or ' none'
    if key.endswith('_bytes') and value:
        return ' %d (%s)' % (value, size_text(value))
    return ' %s' % value


class Progress:
    """One line per step on stderr, so stdout stays machine-readable."""

    def __init__(self, stream=None, enabled=True):
        self._stream = stream
        self.enabled = enabled

    def __call__(self, message, *args):
        if not self.enabled:
            return
        stream = self._stream or sys.stderr
        stream.write('... ' + (message % args if args else message) + '\n')
        stream.flush()


def size_text(size):
    """Bytes in binary units, for tables."""
    if size is None:
        return ''
    value = float(size)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if value < 1024 or unit == 'TiB':
            return ('%d %s' % (value, unit) if unit == 'B'
                    else '%.1f %s' % (value, unit))
        value /= 1024
    return str(size)
