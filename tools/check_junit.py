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

"""Fail unless a JUnit report shows functional tests that ran and passed.

pytest exits 0 when every test is skipped; a functional suite that skipped
everything (no simulator, say) has proven nothing.  Each failed or errored
test is listed with the start of its message, so the end of a long CI log
says what went wrong.
"""

import os
import sys
import xml.etree.ElementTree as ET

MESSAGE_LINES = 8


def failures(root):
    """Yield (test id, first lines of the message) for each failed test."""
    for case in root.iter('testcase'):
        for outcome in ('failure', 'error'):
            for element in case.findall(outcome):
                text = element.get('message') or element.text or ''
                lines = text.strip().splitlines()[:MESSAGE_LINES]
                yield ('%s::%s (%s)' % (case.get('classname'),
                                       case.get('name'), outcome), lines)


def check(path):
    """Print the counts of one report; return whether it is a pass."""
    name = os.path.splitext(os.path.basename(path))[0]
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print('%s: no usable report at %s: %s' % (name, path, e))
        return False
    suites = [root] if root.tag == 'testsuite' else root.iter('testsuite')
    total = failed = skipped = 0
    for suite in suites:
        total += int(suite.get('tests', 0))
        failed += int(suite.get('failures', 0)) + int(suite.get('errors', 0))
        skipped += int(suite.get('skipped', 0))
    passed = total - failed - skipped
    print('%s: %d passed, %d failed, %d skipped'
          % (name, passed, failed, skipped))
    for test, lines in failures(root):
        print('  FAILED %s' % test)
        for line in lines:
            print('    %s' % line)
    if failed or skipped or passed == 0:
        print('%s: every test must run and pass' % name)
        return False
    return True


def main(paths):
    results = [check(path) for path in paths]
    return 0 if results and all(results) else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
