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

"""Render the documented configuration files in etc/ for a test run."""

import re


def edit_ini(text, settings, *, must_exist=False):
    """``text`` with the options in ``settings`` set.

    ``settings`` maps a section to ``{option: value}``; a list value gives
    a multi-valued option one line per item, None removes the option.  The
    first line of an option takes the new value(s), later lines of the same
    option go.  Options and sections not in ``text`` are appended, unless
    ``must_exist``: then they are an error, which keeps a documented file
    complete.
    """
    pending = {s: dict(opts) for s, opts in settings.items()}
    seen = set()
    out = []
    section = None

    def option_lines(name, value):
        if value is None:
            return []
        values = value if isinstance(value, (list, tuple)) else [value]
        return ['%s = %s' % (name, _ini_value(v)) for v in values]

    def close_section():
        # Appended options go after the section's last option, before the
        # blank lines and comments that introduce the next section.
        rest = pending.pop(section, {})
        if not rest:
            return
        if must_exist:
            raise KeyError('[%s] %s not in the file' % (
                section, ', '.join(sorted(rest))))
        at = len(out)
        while at > 0 and (not out[at - 1].strip() or
                          out[at - 1].lstrip().startswith(('#', ';'))):
            at -= 1
        out[at:at] = [line for name, value in rest.items()
                      for line in option_lines(name, value)]

    for line in text.splitlines():
        header = re.match(r'\s*\[([^\]]+)\]\s*$', line)
        if header:
            close_section()
            section = header.group(1)
            out.append(line)
            continue
        option = re.match(r'([A-Za-z0-9_.-]+)\s*=', line)
        if option and option.group(1) in settings.get(section, {}):
            name = option.group(1)
            if (section, name) not in seen:
                seen.add((section, name))
                out.extend(option_lines(name, settings[section][name]))
                pending[section].pop(name, None)
            continue
        out.append(line)
    close_section()
    for name, opts in pending.items():
        if must_exist:
            raise KeyError('section [%s] not in the file' % name)
        out += ['', '[%s]' % name]
        out += [line for opt, value in opts.items()
                for line in option_lines(opt, value)]
    return '\n'.join(out) + '\n'


def _ini_value(value):
    if isinstance(value, bool):
        return 'True' if value else 'False'
    return str(value)
